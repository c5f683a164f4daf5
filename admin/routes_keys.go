package admin

import (
	"net/http"

	"github.com/shoalsync/shoal/sync/model"
)

// Handlers of the folder-key routes: the keys of a folder, joining by key,
// invites, joins by invite and the devices waiting for approval. Request
// bodies here carry secrets (folder keys, invite links): they are never
// logged, and error messages never quote them.

func (s *Server) folderKeys(r *http.Request) (int, any, error) {
	folder, err := checkFolderID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	k, err := s.agent.FolderKeys(r.Context(), folder)
	return http.StatusOK, k, err
}

func (s *Server) joinFolder(r *http.Request) (int, any, error) {
	var req model.JoinRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	if err := checkJoinFolder(&req); err != nil {
		return 0, nil, err
	}
	f, err := s.agent.JoinFolder(r.Context(), req)
	return http.StatusCreated, f, err
}

func (s *Server) createInvite(r *http.Request) (int, any, error) {
	folder, err := checkFolderID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	var req model.InviteRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	if err := checkInvite(&req); err != nil {
		return 0, nil, err
	}
	inv, err := s.agent.CreateInvite(r.Context(), folder, req)
	return http.StatusCreated, inv, err
}

func (s *Server) joinInvite(r *http.Request) (int, any, error) {
	var req model.JoinInviteRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	if err := checkJoinInvite(&req); err != nil {
		return 0, nil, err
	}
	js, err := s.agent.JoinInvite(r.Context(), req)
	return http.StatusCreated, js, err
}

func (s *Server) joins(r *http.Request) (int, any, error) {
	js, err := s.agent.Joins(r.Context())
	return http.StatusOK, nonNil(js), err
}

func (s *Server) pending(r *http.Request) (int, any, error) {
	ps, err := s.agent.Pending(r.Context())
	return http.StatusOK, nonNil(ps), err
}

func (s *Server) approve(r *http.Request) (int, any, error) {
	dev, req, err := decideRequest(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.agent.Approve(r.Context(), dev, req)
}

func (s *Server) deny(r *http.Request) (int, any, error) {
	dev, req, err := decideRequest(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.agent.Deny(r.Context(), dev, req)
}

// decideRequest reads the device and the optional body of an approve or
// deny request.
func decideRequest(r *http.Request) (string, model.DecideRequest, error) {
	var req model.DecideRequest
	dev, err := checkDeviceID(r.PathValue("device"))
	if err != nil {
		return "", req, err
	}
	if err := decodeOptionalBody(r, &req); err != nil {
		return "", req, err
	}
	if err := checkDecide(&req); err != nil {
		return "", req, err
	}
	return dev, req, nil
}

func (s *Server) removeMember(r *http.Request) (int, any, error) {
	folder, err := checkFolderID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	dev, err := checkDeviceID(r.PathValue("device"))
	if err != nil {
		return 0, nil, err
	}
	f, err := s.agent.RemoveMember(r.Context(), folder, dev)
	return http.StatusOK, f, err
}

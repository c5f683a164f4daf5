package admin

import (
	"net/http"

	"github.com/shoalsync/shoal/sync/model"
)

// Handlers of the data-safety routes: folder settings, conflict copies,
// version archives and the send-only / receive-only actions.

func (s *Server) updateFolder(r *http.Request) (int, any, error) {
	folder, err := checkFolderID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	var req model.UpdateFolderRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	if err := checkUpdateFolder(&req); err != nil {
		return 0, nil, err
	}
	f, err := s.agent.UpdateFolder(r.Context(), folder, req)
	return http.StatusOK, f, err
}

func (s *Server) allConflicts(r *http.Request) (int, any, error) {
	cs, err := s.agent.Conflicts(r.Context(), "")
	return http.StatusOK, nonNil(cs), err
}

func (s *Server) folderConflicts(r *http.Request) (int, any, error) {
	folder, err := checkFolderID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	cs, err := s.agent.Conflicts(r.Context(), folder)
	return http.StatusOK, nonNil(cs), err
}

func (s *Server) versions(r *http.Request) (int, any, error) {
	folder, err := checkFolderID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	if len(q["path"]) > 1 {
		return 0, nil, badRequest("query parameter path is given more than once")
	}
	p, err := checkFilePath(q.Get("path"))
	if err != nil {
		return 0, nil, err
	}
	vs, err := s.agent.Versions(r.Context(), folder, p)
	return http.StatusOK, nonNil(vs), err
}

func (s *Server) restoreVersion(r *http.Request) (int, any, error) {
	folder, err := checkFolderID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	var req model.RestoreRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Path, err = checkFilePath(req.Path); err != nil {
		return 0, nil, err
	}
	v, err := s.agent.RestoreVersion(r.Context(), folder, req)
	return http.StatusOK, v, err
}

func (s *Server) overrideFolder(r *http.Request) (int, any, error) {
	folder, err := checkFolderID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.agent.OverrideFolder(r.Context(), folder)
}

func (s *Server) revertFolder(r *http.Request) (int, any, error) {
	folder, err := checkFolderID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.agent.RevertFolder(r.Context(), folder)
}

func (s *Server) differences(r *http.Request) (int, any, error) {
	folder, err := checkFolderID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	ds, err := s.agent.Differences(r.Context(), folder)
	return http.StatusOK, nonNil(ds), err
}

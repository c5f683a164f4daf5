package admin

import (
	"net/http"

	"github.com/shoalsync/shoal/sync/model"
)

// apiFunc handles one route: it returns the status and body of a success,
// or an error that writeAPIError maps to a status.
type apiFunc func(r *http.Request) (status int, body any, err error)

// route is one registered pattern. Every route but health needs the token.
type route struct {
	pattern string
	public  bool
	fn      apiFunc
}

// routes lists the API. openapi.yaml must describe each of these (and
// nothing else); TestOpenAPICoversRoutes checks it.
func (s *Server) routes() []route {
	return []route{
		{pattern: "GET /api/v1/health", public: true, fn: s.health},
		{pattern: "GET /api/v1/status", fn: s.status},
		{pattern: "GET /api/v1/devices", fn: s.devices},
		{pattern: "POST /api/v1/devices", fn: s.addDevice},
		{pattern: "DELETE /api/v1/devices/{id}", fn: s.removeDevice},
		{pattern: "GET /api/v1/folders", fn: s.folders},
		{pattern: "POST /api/v1/folders", fn: s.addFolder},
		{pattern: "POST /api/v1/folders/{id}/devices", fn: s.shareFolder},
		{pattern: "DELETE /api/v1/folders/{id}", fn: s.removeFolder},
		{pattern: "PATCH /api/v1/folders/{id}", fn: s.updateFolder},
		{pattern: "GET /api/v1/conflicts", fn: s.allConflicts},
		{pattern: "GET /api/v1/folders/{id}/conflicts", fn: s.folderConflicts},
		{pattern: "GET /api/v1/folders/{id}/versions", fn: s.versions},
		{pattern: "POST /api/v1/folders/{id}/versions/restore", fn: s.restoreVersion},
		{pattern: "POST /api/v1/folders/{id}/override", fn: s.overrideFolder},
		{pattern: "POST /api/v1/folders/{id}/revert", fn: s.revertFolder},
		{pattern: "GET /api/v1/folders/{id}/differences", fn: s.differences},
		{pattern: "GET /api/v1/folders/{id}/keys", fn: s.folderKeys},
		{pattern: "DELETE /api/v1/folders/{id}/members/{device}", fn: s.removeMember},
		{pattern: "POST /api/v1/folders/join", fn: s.joinFolder},
		{pattern: "POST /api/v1/folders/{id}/invites", fn: s.createInvite},
		{pattern: "POST /api/v1/joins", fn: s.joinInvite},
		{pattern: "GET /api/v1/joins", fn: s.joins},
		{pattern: "GET /api/v1/pending", fn: s.pending},
		{pattern: "POST /api/v1/pending/{device}/approve", fn: s.approve},
		{pattern: "POST /api/v1/pending/{device}/deny", fn: s.deny},
	}
}

// Health is the body of GET /api/v1/health.
type Health struct {
	Status string `json:"status"` // always "ok"
}

// ShareRequest is the body of POST /api/v1/folders/{id}/devices.
type ShareRequest struct {
	DeviceID string `json:"deviceId"`
}

func (s *Server) health(*http.Request) (int, any, error) {
	return http.StatusOK, Health{Status: "ok"}, nil
}

func (s *Server) status(r *http.Request) (int, any, error) {
	st, err := s.agent.Status(r.Context())
	if err != nil {
		return 0, nil, err
	}
	st.Devices = nonNil(st.Devices)
	st.Folders = nonNil(st.Folders)
	st.Refused = nonNil(st.Refused)
	st.ListenAddrs = nonNil(st.ListenAddrs)
	return http.StatusOK, st, nil
}

func (s *Server) devices(r *http.Request) (int, any, error) {
	ds, err := s.agent.Devices(r.Context())
	return http.StatusOK, nonNil(ds), err
}

func (s *Server) addDevice(r *http.Request) (int, any, error) {
	var req model.AddDeviceRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	if err := checkAddDevice(&req); err != nil {
		return 0, nil, err
	}
	d, err := s.agent.AddDevice(r.Context(), req)
	return http.StatusCreated, d, err
}

func (s *Server) removeDevice(r *http.Request) (int, any, error) {
	id, err := checkDeviceID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.agent.RemoveDevice(r.Context(), id)
}

func (s *Server) folders(r *http.Request) (int, any, error) {
	fs, err := s.agent.Folders(r.Context())
	return http.StatusOK, nonNil(fs), err
}

func (s *Server) addFolder(r *http.Request) (int, any, error) {
	var req model.AddFolderRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	if err := checkAddFolder(&req); err != nil {
		return 0, nil, err
	}
	f, err := s.agent.AddFolder(r.Context(), req)
	return http.StatusCreated, f, err
}

func (s *Server) shareFolder(r *http.Request) (int, any, error) {
	folder, err := checkFolderID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	var req ShareRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	dev, err := checkDeviceID(req.DeviceID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.agent.ShareFolder(r.Context(), folder, dev)
}

func (s *Server) removeFolder(r *http.Request) (int, any, error) {
	folder, err := checkFolderID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.agent.RemoveFolder(r.Context(), folder)
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shoalsync/shoal/sync/model"
)

// maxResponseBytes bounds a response body the client reads.
const maxResponseBytes = 64 << 20

// APIError is an error answer of the API. Its message is the server's
// one-line message. It matches model.ErrNotFound, model.ErrExists and
// model.ErrInvalid for 404, 409 and 400.
type APIError struct {
	StatusCode int
	Message    string
}

func (e *APIError) Error() string { return e.Message }

// Is maps the status back to the model's error sentinels.
func (e *APIError) Is(target error) bool {
	switch e.StatusCode {
	case http.StatusNotFound:
		return target == model.ErrNotFound
	case http.StatusConflict:
		return target == model.ErrExists
	case http.StatusBadRequest:
		return target == model.ErrInvalid
	}
	return false
}

// Client talks to a running agent's admin API. It implements Agent, so
// code written against Agent works locally and remotely alike. Its methods
// are safe for concurrent use.
type Client struct {
	ep   Endpoint
	base string
	hc   *http.Client
}

var _ Agent = (*Client)(nil)

// NewClient returns a client for the agent at ep, usually from ReadEndpoint.
func NewClient(ep Endpoint) *Client {
	tr := &http.Transport{
		Proxy:                 nil, // the agent is local; never go through a proxy
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
	}
	return &Client{
		ep:   ep,
		base: "http://" + ep.Address,
		hc:   &http.Client{Transport: tr, Timeout: 3 * time.Minute},
	}
}

// Close releases the client's idle connections. The client stays usable.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Endpoint returns the endpoint the client talks to.
func (c *Client) Endpoint() Endpoint { return c.ep }

// Health checks that the agent answers; it needs no token.
func (c *Client) Health(ctx context.Context) error {
	var h Health
	return c.do(ctx, http.MethodGet, "/api/v1/health", nil, &h)
}

// Status returns the agent's status.
func (c *Client) Status(ctx context.Context) (model.Status, error) {
	var st model.Status
	err := c.do(ctx, http.MethodGet, "/api/v1/status", nil, &st)
	return st, err
}

// Devices lists the configured devices.
func (c *Client) Devices(ctx context.Context) ([]model.DeviceStatus, error) {
	var ds []model.DeviceStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/devices", nil, &ds)
	return ds, err
}

// AddDevice adds a trusted device.
func (c *Client) AddDevice(ctx context.Context, req model.AddDeviceRequest) (model.DeviceStatus, error) {
	var d model.DeviceStatus
	err := c.do(ctx, http.MethodPost, "/api/v1/devices", req, &d)
	return d, err
}

// RemoveDevice removes a device and unshares every folder from it.
func (c *Client) RemoveDevice(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/devices/"+url.PathEscape(id), nil, nil)
}

// Folders lists the configured folders.
func (c *Client) Folders(ctx context.Context) ([]model.FolderStatus, error) {
	var fs []model.FolderStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/folders", nil, &fs)
	return fs, err
}

// AddFolder adds a folder to sync.
func (c *Client) AddFolder(ctx context.Context, req model.AddFolderRequest) (model.FolderStatus, error) {
	var f model.FolderStatus
	err := c.do(ctx, http.MethodPost, "/api/v1/folders", req, &f)
	return f, err
}

// ShareFolder shares a folder with a configured device.
func (c *Client) ShareFolder(ctx context.Context, folderID, deviceID string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/folders/"+url.PathEscape(folderID)+"/devices",
		ShareRequest{DeviceID: deviceID}, nil)
}

// RemoveFolder stops syncing a folder; its files stay on disk.
func (c *Client) RemoveFolder(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/folders/"+url.PathEscape(id), nil, nil)
}

// UpdateFolder changes a folder's settings; nil fields of req are kept. It
// returns the folder's status with the new settings.
func (c *Client) UpdateFolder(ctx context.Context, folderID string, req model.UpdateFolderRequest) (model.FolderStatus, error) {
	var f model.FolderStatus
	p, err := folderPath(folderID)
	if err == nil {
		err = c.do(ctx, http.MethodPatch, p, req, &f)
	}
	return f, err
}

// Conflicts lists the conflict copies of a folder, or of every folder when
// folderID is "".
func (c *Client) Conflicts(ctx context.Context, folderID string) ([]model.Conflict, error) {
	p := "/api/v1/conflicts"
	if folderID != "" {
		p = "/api/v1/folders/" + url.PathEscape(folderID) + "/conflicts"
	}
	var cs []model.Conflict
	err := c.do(ctx, http.MethodGet, p, nil, &cs)
	return cs, err
}

// Versions lists the archived versions of path (relative to the folder
// root, '/'-separated) in a folder, newest first.
func (c *Client) Versions(ctx context.Context, folderID, path string) ([]model.Version, error) {
	var vs []model.Version
	p, err := folderPath(folderID)
	if err == nil {
		err = c.do(ctx, http.MethodGet, p+"/versions?"+url.Values{"path": {path}}.Encode(), nil, &vs)
	}
	return vs, err
}

// RestoreVersion puts an archived version of req.Path back in place: the
// newest one archived at or before req.At, or the newest one when At is
// zero. It returns the restored version.
func (c *Client) RestoreVersion(ctx context.Context, folderID string, req model.RestoreRequest) (model.Version, error) {
	var v model.Version
	p, err := folderPath(folderID)
	if err == nil {
		err = c.do(ctx, http.MethodPost, p+"/versions/restore", req, &v)
	}
	return v, err
}

// OverrideFolder makes every device match this send-only folder.
func (c *Client) OverrideFolder(ctx context.Context, folderID string) error {
	p, err := folderPath(folderID)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, p+"/override", nil, nil)
}

// RevertFolder moves the local changes of this receive-only folder to the
// version archive and puts the shared state back.
func (c *Client) RevertFolder(ctx context.Context, folderID string) error {
	p, err := folderPath(folderID)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, p+"/revert", nil, nil)
}

// Differences lists the paths where a send-only or receive-only folder
// differs from the shared state.
func (c *Client) Differences(ctx context.Context, folderID string) ([]model.Difference, error) {
	var ds []model.Difference
	p, err := folderPath(folderID)
	if err == nil {
		err = c.do(ctx, http.MethodGet, p+"/differences", nil, &ds)
	}
	return ds, err
}

// FolderKeys returns the printable keys of a folder this device holds; a
// level it does not hold is empty. The keys are secrets: anyone who has one
// gets that access to the folder.
func (c *Client) FolderKeys(ctx context.Context, folderID string) (model.FolderKeys, error) {
	var k model.FolderKeys
	p, err := folderPath(folderID)
	if err == nil {
		err = c.do(ctx, http.MethodGet, p+"/keys", nil, &k)
	}
	return k, err
}

// JoinFolder adds the folder a printable key names, at req.Path (absolute;
// created if missing).
func (c *Client) JoinFolder(ctx context.Context, req model.JoinRequest) (model.FolderStatus, error) {
	var f model.FolderStatus
	err := c.do(ctx, http.MethodPost, "/api/v1/folders/join", req, &f)
	return f, err
}

// CreateInvite issues an invite link to a folder. The result carries the
// link in both text forms.
func (c *Client) CreateInvite(ctx context.Context, folderID string, req model.InviteRequest) (model.Invite, error) {
	var inv model.Invite
	p, err := folderPath(folderID)
	if err == nil {
		err = c.do(ctx, http.MethodPost, p+"/invites", req, &inv)
	}
	return inv, err
}

// JoinInvite starts joining a folder by invite link, at req.Path (absolute;
// created if missing). The join goes on in the agent; follow it with Joins.
func (c *Client) JoinInvite(ctx context.Context, req model.JoinInviteRequest) (model.JoinStatus, error) {
	var js model.JoinStatus
	err := c.do(ctx, http.MethodPost, "/api/v1/joins", req, &js)
	return js, err
}

// Joins lists the invites this device is redeeming or has redeemed.
func (c *Client) Joins(ctx context.Context) ([]model.JoinStatus, error) {
	var js []model.JoinStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/joins", nil, &js)
	return js, err
}

// Pending lists the devices waiting for approval to join a folder.
func (c *Client) Pending(ctx context.Context) ([]model.PendingDevice, error) {
	var ps []model.PendingDevice
	err := c.do(ctx, http.MethodGet, "/api/v1/pending", nil, &ps)
	return ps, err
}

// Approve lets a pending device (full ID) join; req.Folder may be empty
// when the device waits for one folder only.
func (c *Client) Approve(ctx context.Context, deviceID string, req model.DecideRequest) error {
	return c.decide(ctx, deviceID, "approve", req)
}

// Deny refuses a pending device (full ID).
func (c *Client) Deny(ctx context.Context, deviceID string, req model.DecideRequest) error {
	return c.decide(ctx, deviceID, "deny", req)
}

// RemoveMember removes a device from a keyed folder (full device ID).
func (c *Client) RemoveMember(ctx context.Context, folderID, deviceID string) (model.FolderStatus, error) {
	var f model.FolderStatus
	p, err := folderPath(folderID)
	if err != nil {
		return f, err
	}
	if deviceID == "" {
		return f, badRequest("device ID is missing")
	}
	err = c.do(ctx, http.MethodDelete, p+"/members/"+url.PathEscape(deviceID), nil, &f)
	return f, err
}

func (c *Client) decide(ctx context.Context, deviceID, verb string, req model.DecideRequest) error {
	if deviceID == "" {
		return badRequest("device ID is missing")
	}
	return c.do(ctx, http.MethodPost, "/api/v1/pending/"+url.PathEscape(deviceID)+"/"+verb, req, nil)
}

// folderPath is the URL path of a folder. An empty ID would name another
// route, so it fails with an error matching model.ErrInvalid.
func folderPath(id string) (string, error) {
	if id == "" {
		return "", badRequest("folder ID is missing")
	}
	return "/api/v1/folders/" + url.PathEscape(id), nil
}

// do sends one request and decodes a success body into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("admin request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.ep.Token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			return &noAgentError{home: c.ep.Home, addr: c.ep.Address}
		}
		return fmt.Errorf("talking to the agent at %s: %w", c.ep.Address, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("reading agent response: %w", err)
	}
	if len(b) > maxResponseBytes {
		return fmt.Errorf("agent response larger than %d bytes", maxResponseBytes)
	}
	if resp.StatusCode >= 300 {
		return apiError(resp.StatusCode, b)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding agent response to %s %s: %w", method, path, err)
	}
	return nil
}

func apiError(status int, body []byte) error {
	var eb ErrorBody
	msg := ""
	if json.Unmarshal(body, &eb) == nil {
		msg = oneLine(eb.Error)
	}
	if msg == "" {
		msg = strings.ToLower(http.StatusText(status))
		if msg == "" {
			msg = fmt.Sprintf("HTTP status %d", status)
		}
		msg = "agent answered: " + msg
	}
	return &APIError{StatusCode: status, Message: msg}
}

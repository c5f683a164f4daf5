// Package admin is the agent's local HTTP/JSON control API and its client.
//
// The server exposes the operations of an [Agent] (status, devices, folders
// and their settings, conflict copies, version archives, the override and
// revert of send-only and receive-only folders, folder keys, invites, joins
// and approvals) under /api/v1/. Folder keys and invite links are secrets:
// the server never logs request bodies, and its messages never quote them. Every route
// except GET /api/v1/health requires the API token, sent as
// "Authorization: Bearer TOKEN" or "X-API-Key: TOKEN". The handler is
// wrapped in [http.CrossOriginProtection], so a web page cannot drive the API
// from a browser, and the server refuses to listen on a non-loopback address
// unless [Options.AllowNonLoopback] is set.
//
// # Endpoint file
//
// While it serves, the server writes HOME/admin.json (mode 0600) holding its
// address, the token and its process ID, and removes it on clean shutdown.
// The token is random and regenerated at each start, so the file is the only
// place that holds it. The CLI reads the file with [ReadEndpoint] and talks
// to the agent with a [Client]; it never needs a token of its own.
//
// The routes and schemas are described in openapi.yaml next to this file,
// and for humans in docs/admin-api.md; a test keeps the spec and the
// registered routes in step.
package admin

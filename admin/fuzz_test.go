package admin

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/shoalsync/shoal/admin/admintest"
	"github.com/shoalsync/shoal/sync/model"
)

// FuzzDecodeRequests feeds untrusted bytes to the decoder and validators of
// every POST body, and to the full handler. Decoding must never panic; what
// decodes and validates must survive a JSON round trip unchanged and
// validate again (validation is idempotent); and the handler must answer
// with a JSON body and a status from the documented set.
func FuzzDecodeRequests(f *testing.F) {
	dev := "12D3KooWHMxNZA7Ap5JWUCVQ1zENHdQWe3egZMdL5V5qi4zHFGVD"
	seeds := []struct {
		kind byte
		body string
	}{
		{0, `{"id":"` + dev + `","name":"laptop","addrs":["quic://192.0.2.1:22100","/ip4/192.0.2.1/udp/22100/quic-v1"]}`},
		{0, `{"id":"` + dev + `"}`},
		{0, `{"id":"x","unknown":1}`},
		{1, `{"path":"/home/a/Shoal","id":"default","label":"Shoal","devices":["` + dev + `"]}`},
		{1, `{"path":"/srv/x"}`},
		{1, `{"path":"rel"} trailing`},
		{2, `{"deviceId":"` + dev + `"}`},
		{2, `{"deviceId":null}`},
		{2, ``},
		{0, `{"id":"` + dev + `","name":"\u0000"}`},
	}
	for _, s := range seeds {
		f.Add(s.kind, []byte(s.body))
	}
	srv, err := NewServer(Options{Agent: admintest.New("fuzz"), Token: "t", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()

	f.Fuzz(func(t *testing.T, kind byte, body []byte) {
		var target string
		switch kind % 3 {
		case 0:
			target = "/api/v1/devices"
			var req model.AddDeviceRequest
			if decodeJSON(body, &req) == nil && checkAddDevice(&req) == nil {
				if len(req.Addrs) == 0 {
					req.Addrs = nil // omitempty: [] and absent are the same
				}
				var again model.AddDeviceRequest
				roundTrip(t, req, &again)
				if err := checkAddDevice(&again); err != nil || !reflect.DeepEqual(req, again) {
					t.Fatalf("round trip %+v -> %+v (%v)", req, again, err)
				}
			}
		case 1:
			target = "/api/v1/folders"
			var req model.AddFolderRequest
			if decodeJSON(body, &req) == nil && checkAddFolder(&req) == nil {
				if len(req.Devices) == 0 {
					req.Devices = nil
				}
				var again model.AddFolderRequest
				roundTrip(t, req, &again)
				if err := checkAddFolder(&again); err != nil || !reflect.DeepEqual(req, again) {
					t.Fatalf("round trip %+v -> %+v (%v)", req, again, err)
				}
			}
		case 2:
			target = "/api/v1/folders/default/devices"
			var req ShareRequest
			if decodeJSON(body, &req) == nil {
				if _, err := checkDeviceID(req.DeviceID); err == nil {
					var again ShareRequest
					roundTrip(t, req, &again)
					if again != req {
						t.Fatalf("round trip %+v -> %+v", req, again)
					}
				}
			}
		}

		r := httptest.NewRequest("POST", target, strings.NewReader(string(body)))
		r.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		switch rec.Code {
		case http.StatusCreated:
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("201 with invalid JSON %q", rec.Body.Bytes())
			}
		case http.StatusNoContent:
		case http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge:
			var eb ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == "" || strings.Contains(eb.Error, "\n") {
				t.Fatalf("%d with bad error body %q", rec.Code, rec.Body.Bytes())
			}
		default:
			t.Fatalf("POST %s %q: unexpected status %d %s", target, body, rec.Code, rec.Body.Bytes())
		}
	})
}

func roundTrip(t *testing.T, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeJSON(b, out); err != nil {
		t.Fatalf("re-decoding %s: %v", b, err)
	}
}

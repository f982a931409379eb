package web_test

import (
	"bytes"
	"fmt"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/securecam/securecam/signaling/wire"
)

// A completed reset voids every other reset link of the user.
func TestPasswordResetVoidsEarlierLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp()
	request := func() string {
		t.Helper()
		e.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": a.User.Email}).want(t, http.StatusAccepted, nil)
		return tokenIn(t, e.mail.next(t).body)
	}
	first, second := request(), request()
	if first == second {
		t.Fatal("two reset requests mailed the same token")
	}
	e.do("POST", "/api/v1/auth/password-reset", map[string]string{"token": second, "password": "new password 1"}).
		want(t, http.StatusNoContent, nil)
	e.do("POST", "/api/v1/auth/password-reset", map[string]string{"token": first, "password": "attacker's pick"}).
		wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": "new password 1"}).
		want(t, http.StatusOK, nil)
}

// A body that is valid JSON but not an object is refused, null included.
func TestNonObjectBodiesAreRefused(t *testing.T) {
	st := newDisk(t)
	e := newEnv(t, withEvents(t, st))
	h := e.household()
	var ev wire.Event
	e.do("POST", "/api/v1/events", map[string]string{"device_id": h.cam.Device.ID, "title": "Motion", "triggered_by": "motion"},
		bearer(h.tok)).want(t, http.StatusCreated, &ev)
	patches := []struct{ name, path, tok string }{
		{"device by the owner", "/api/v1/devices/" + h.cam.Device.ID, h.tok},
		{"device by its token", "/api/v1/devices/" + h.cam.Device.ID, h.cam.DeviceToken},
		{"event", "/api/v1/events/" + ev.ID, h.tok},
	}
	for _, p := range patches {
		for _, body := range []string{"null", " null\n", "[]", `"x"`, "1", "true"} {
			t.Run(fmt.Sprintf("PATCH %s %q", p.name, body), func(t *testing.T) {
				pr := e.do("PATCH", p.path, body, bearer(p.tok)).wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)
				if !strings.Contains(pr.Detail, "expected an object") {
					t.Errorf("detail %q", pr.Detail)
				}
			})
		}
	}
	e.do("POST", "/api/v1/devices", "null", bearer(h.tok)).wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)
	e.do("POST", "/api/v1/auth/sign-in", "null").wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)
	// The resources are unchanged, and an object still works.
	var d wire.Device
	e.do("PATCH", "/api/v1/devices/"+h.cam.Device.ID, map[string]string{"name": "porch"}, bearer(h.tok)).want(t, http.StatusOK, &d)
	if d.Name != "porch" {
		t.Errorf("PATCH with an object: name %q", d.Name)
	}
}

// Multi-range requests: at most 16 ranges, none overlapping; otherwise 416.
func TestRecordingRangeLimits(t *testing.T) {
	st := newDisk(t)
	e := newEnv(t, withEvents(t, st))
	h := e.household()
	r := e.createRecording(h.tok, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/mp4"})
	path := uploadPath(t, r.UploadURL)
	clip := make([]byte, 100)
	for i := range clip {
		clip[i] = byte(i)
	}
	e.do("PUT", path, string(clip), bearer(h.tok), header("Content-Type", "video/mp4")).want(t, http.StatusOK, nil)

	spans := func(n int) string {
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf("%d-%d", i*5, i*5+1))
		}
		return "bytes=" + strings.Join(parts, ",")
	}
	// 16 disjoint ranges: a multipart answer with each part.
	res := e.do("GET", path, nil, bearer(h.tok), header("Range", spans(16)))
	if res.status != http.StatusPartialContent {
		t.Fatalf("16 ranges: %d, want 206", res.status)
	}
	_, params, err := mime.ParseMediaType(res.header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(bytes.NewReader(res.body), params["boundary"])
	parts := 0
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		parts++
		var got bytes.Buffer
		_, _ = got.ReadFrom(p)
		if want := clip[(parts-1)*5 : (parts-1)*5+2]; !bytes.Equal(got.Bytes(), want) {
			t.Errorf("part %d = %v, want %v", parts, got.Bytes(), want)
		}
	}
	if parts != 16 {
		t.Errorf("%d parts, want 16", parts)
	}
	e.do("GET", path, nil, bearer(h.tok), header("Range", "bytes=0-4,5-9")).want(t, http.StatusPartialContent, nil)

	for name, rng := range map[string]string{
		"17 ranges":                 spans(17),
		"overlapping":               "bytes=0-10,5-20",
		"the same range twice":      "bytes=0-1,0-1",
		"a suffix over a range":     "bytes=90-95,-20",
		"open-ended over another":   "bytes=50-,60-61",
		"overlapping, out of order": "bytes=40-49,0-9,45-46",
	} {
		t.Run(name, func(t *testing.T) {
			res := e.do("GET", path, nil, bearer(h.tok), header("Range", rng))
			res.wantProblem(t, http.StatusRequestedRangeNotSatisfiable, wire.CodeBadRequest)
			if got := res.header.Get("Content-Range"); got != "bytes */100" {
				t.Errorf("Content-Range %q, want bytes */100", got)
			}
		})
	}
}

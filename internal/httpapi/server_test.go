package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cartstream/cartstream/internal/httpapi"
)

// Until the process is ready, the API and /healthz answer 503 at once
// (no call reaches the gRPC side), while the page is already served.
func TestStartingProcessAnswers503(t *testing.T) {
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ready := make(chan struct{})
	s, err := httpapi.New(httpapi.Config{
		Conn: conn, Ready: ready,
		Static: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }),
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body
	}
	if code, body := get("/v1/products"); code != http.StatusServiceUnavailable || body["code"] != float64(14) {
		t.Errorf("API while starting: %d %v", code, body)
	}
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || body["status"] != "STARTING" {
		t.Errorf("/healthz while starting: %d %v", code, body)
	}
	if code, _ := get("/"); code != http.StatusTeapot {
		t.Errorf("page while starting: %d", code)
	}
	close(ready)
	// Ready, but nothing listens on the gRPC side: UNAVAILABLE, as JSON.
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz with the gRPC side down: %d", code)
	}
	if code, body := get("/v1/products/X"); code != http.StatusServiceUnavailable || body["code"] != float64(14) {
		t.Errorf("API with the gRPC side down: %d %v", code, body)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := httpapi.New(httpapi.Config{}); err == nil {
		t.Error("no connection: no error")
	}
}

package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// WriteJSON answers with code and v encoded as JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "encode answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// WriteError answers with code and {"error": msg}.
func WriteError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(ErrorResponse{Error: msg}) // a struct of one string always encodes
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// ReadJSON decodes the request body (already limited by the server) into v,
// refusing unknown fields and trailing data. On failure it answers 400, or 413
// when the body is too large, and returns false.
func ReadJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON value")
	}
	if err == nil {
		return true
	}
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", mbe.Limit))
		return false
	}
	WriteError(w, http.StatusBadRequest, "decode request: "+err.Error())
	return false
}

// StatusRoute serves GET PathStatus with the Status that status returns.
func StatusRoute(status func(ctx context.Context) (Status, error)) Route {
	return Route{Method: http.MethodGet, Path: PathStatus, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := status(r.Context())
		if err != nil {
			WriteError(w, http.StatusInternalServerError, "status: "+err.Error())
			return
		}
		WriteJSON(w, http.StatusOK, st)
	})}
}

// LogsRoute serves GET PathLogs?n=N with the last n lines that lines returns,
// oldest first. n defaults to DefaultLogLines and is capped at MaxLogLines;
// lines must return at most n lines.
func LogsRoute(lines func(n int) []string) Route {
	return Route{Method: http.MethodGet, Path: PathLogs, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := parseLogCount(r.URL.Query().Get("n"))
		if err != nil {
			WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		out := lines(n)
		if len(out) > n {
			out = out[len(out)-n:]
		}
		if out == nil {
			out = []string{}
		}
		WriteJSON(w, http.StatusOK, LogsResponse{Lines: out})
	})}
}

// parseLogCount parses the n parameter of PathLogs.
func parseLogCount(q string) (int, error) {
	if q == "" {
		return DefaultLogLines, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("n=%.20q: want a line count from 1 to %d", q, MaxLogLines)
	}
	return min(n, MaxLogLines), nil
}

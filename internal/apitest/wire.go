package apitest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
)

// Wire is a load generator's connection to the server: one keep-alive
// HTTP/1.1 connection, the request written as bytes and the answer read
// with net/http's response parser, as a load tool (wrk, hey) drives a
// server. The throughput harnesses use one per worker so that the server,
// which shares the machine with its client, is not charged with net/http's
// client on top of its own work: the client's two goroutines per
// connection, its header maps and the JSON round trip of Do. It is not
// safe for concurrent use.
type Wire struct {
	conn net.Conn
	r    *bufio.Reader
	host string
	buf  bytes.Buffer
}

// Wire dials a new connection to the server.
func (s *Server) Wire() (*Wire, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	return &Wire{conn: conn, r: bufio.NewReaderSize(conn, 8<<10), host: u.Host}, nil
}

// Close closes the connection.
func (w *Wire) Close() error { return w.conn.Close() }

// Operation encodes a GraphQL operation as the body Post sends.
func Operation(query string, vars map[string]any) ([]byte, error) {
	return json.Marshal(map[string]any{"query": query, "variables": vars})
}

// Post sends body (Operation's) to /graphql as token's and returns the
// HTTP status and the answer's body.
func (w *Wire) Post(token string, body []byte) (int, []byte, error) {
	w.buf.Reset()
	w.buf.WriteString("POST /graphql HTTP/1.1\r\nHost: ")
	w.buf.WriteString(w.host)
	w.buf.WriteString("\r\nContent-Type: application/json\r\nContent-Length: ")
	w.buf.WriteString(strconv.Itoa(len(body)))
	if token != "" {
		w.buf.WriteString("\r\nAuthorization: Bearer ")
		w.buf.WriteString(token)
	}
	w.buf.WriteString("\r\n\r\n")
	w.buf.Write(body)
	if _, err := w.conn.Write(w.buf.Bytes()); err != nil {
		return 0, nil, fmt.Errorf("wire: write: %w", err)
	}
	resp, err := http.ReadResponse(w.r, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("wire: read: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("wire: read body: %w", err)
	}
	if resp.Close {
		return resp.StatusCode, raw, fmt.Errorf("wire: the server closed the connection (%d)", resp.StatusCode)
	}
	return resp.StatusCode, raw, nil
}

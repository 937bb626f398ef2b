package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// kubelet's own WebSocket port-forward protocol (the one its streaming
// server and CRI runtimes built on it speak; client-go has no client for
// it): the ports are `port` query parameters, subprotocol
// v4.channel.k8s.io, each port gets a data channel (2i) and an error
// channel (2i+1), each message starts with its channel byte, and the
// first message on each channel is the port, uint16 little-endian.
// One WebSocket carries one connection per port.

const wsPFProtocol = "v4.channel.k8s.io"

// wsPFConn: one TCP connection to a pod port, through its own WebSocket.
type wsPFConn struct {
	ws      *websocket.Conn
	pending []byte
	maxMsg  int // data bytes per WebSocket message
}

func (e *env) dialWSPortForward(port int) (*wsPFConn, error) {
	if e.pod == "" {
		return nil, errors.New("no -pod given")
	}
	u, err := e.cri.portForwardURL(e.pod, int32(port))
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	q := u.Query()
	q.Add("port", strconv.Itoa(port))
	u.RawQuery = q.Encode()
	d := websocket.Dialer{Subprotocols: []string{wsPFProtocol}, HandshakeTimeout: e.timeout}
	ws, resp, err := d.Dial(u.String(), nil)
	if err != nil {
		status := ""
		if resp != nil {
			status = " (HTTP " + resp.Status + ")"
		}
		return nil, fmt.Errorf("websocket port-forward to port %d: %v%s", port, err, status)
	}
	if ws.Subprotocol() != wsPFProtocol {
		ws.Close()
		return nil, fmt.Errorf("server chose subprotocol %q, want %q", ws.Subprotocol(), wsPFProtocol)
	}
	_ = ws.SetReadDeadline(time.Now().Add(e.timeout))
	// The port announcement on both channels, in either order.
	for seen := 0; seen < 2; seen++ {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			ws.Close()
			return nil, fmt.Errorf("reading the port announcement: %v", err)
		}
		if len(msg) != 3 || msg[0] > 1 || int(binary.LittleEndian.Uint16(msg[1:])) != port {
			ws.Close()
			return nil, fmt.Errorf("port announcement %q, want channel 0 or 1 and port %d", msg, port)
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	return &wsPFConn{ws: ws, maxMsg: e.wsMaxMessage}, nil
}

func (c *wsPFConn) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				return 0, io.EOF
			}
			return 0, err
		}
		if len(msg) == 0 {
			continue
		}
		switch msg[0] {
		case 0:
			c.pending = msg[1:]
		case 1:
			if len(msg) > 1 {
				return 0, fmt.Errorf("error channel: %s", msg[1:])
			}
		default:
			return 0, fmt.Errorf("message on unknown channel %d", msg[0])
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *wsPFConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), c.maxMsg)
		msg := append([]byte{0}, p[:n]...)
		if err := c.ws.WriteMessage(websocket.BinaryMessage, msg); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

func (c *wsPFConn) Close() error { return c.ws.Close() }

func (c *wsPFConn) SetDeadline(t time.Time) error {
	if err := c.ws.SetReadDeadline(t); err != nil {
		return err
	}
	return c.ws.SetWriteDeadline(t)
}

func checkWSPortForward(e *env) error {
	return trafficCheck(e, func(port int) (podConn, error) {
		c, err := e.dialWSPortForward(port)
		if err != nil {
			return nil, err
		}
		return c, nil
	})
}

var _ podConn = (*wsPFConn)(nil)
var _ podConn = (net.Conn)(nil)

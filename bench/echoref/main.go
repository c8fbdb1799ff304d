// Command echoref is the benchmark's ceiling: a bare labstack/echo server
// answering "hello", started as a child process on loopback the same way as
// tapdesk, so the two request rates taken in one run compare as a ratio.
//
// /timed answers the same with its time in a Server-Timing header, for
// requests paced like people (the bench's paced steps have their bare
// reference there).
//
// With --page it also answers /page with a recorded answer (a header block
// and a body, as tapdesk sent them): what echo does when it has nothing to
// work out, only the same bytes to send.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "loopback address to listen on")
	pagePath := flag.String("page", "", "a recorded answer to send at /page: header lines, a blank line, the body")
	flag.Parse()
	var header http.Header
	var body []byte
	if *pagePath != "" {
		var err error
		if header, body, err = readAnswer(*pagePath); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	hello := func(c echo.Context) error { return c.String(http.StatusOK, "hello") }
	e.GET("/", hello)
	// /timed is "hello" with its time in Server-Timing, measured over the
	// window tapdesk's own app time covers (from its first middleware to
	// the answer's header), for the paced requests the bench compares
	// tapdesk's paced steps with. wrk asks "/", which stays bare.
	e.GET("/timed", hello, func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			res := c.Response()
			res.Before(func() {
				res.Header().Set("Server-Timing", "app;dur="+strconv.FormatFloat(float64(time.Since(start).Microseconds())/1000, 'f', 3, 64))
			})
			return next(c)
		}
	})
	e.GET("/page", func(c echo.Context) error {
		h := c.Response().Header()
		for k, v := range header {
			h[k] = v
		}
		return c.Blob(http.StatusOK, h.Get("Content-Type"), body)
	})
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Shutdown(shutdown)
	}()
	if err := e.Start(*addr); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// readAnswer reads a file of "Name: value" lines, a blank line, and a body.
func readAnswer(path string) (http.Header, []byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		return nil, nil, fmt.Errorf("%s: no blank line after the header", path)
	}
	h := http.Header{}
	for line := range strings.SplitSeq(string(head), "\r\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, nil, fmt.Errorf("%s: header line %q", path, line)
		}
		h.Add(k, v)
	}
	return h, body, nil
}

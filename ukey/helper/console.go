package helper

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"

	"signet/signingcore/keystore"
)

// Console is the helper's own window: the only place the user sees pairing
// codes and what is about to be signed, and the only place the PIN is typed.
type Console interface {
	// Show prints a message for the user.
	Show(msg string)
	// Confirm shows what is about to be signed and asks yes or no.
	Confirm(ctx context.Context, summary string) (bool, error)
	// PIN asks for the token's PIN.
	PIN(ctx context.Context, prompt string) (keystore.Secret, error)
}

// ConsoleOptions configures a terminal console.
type ConsoleOptions struct {
	// Yes answers every confirmation with yes (tests only: the summary is
	// still printed).
	Yes bool
	// PINFile holds the PIN (tests only); read for every signature.
	PINFile string
}

// TerminalConsole reads answers and PINs from the terminal (in) and prints
// to out. A PIN typed at a terminal is not echoed; from a pipe it is read as
// a line. It is safe for concurrent use; prompts do not interleave.
//
// One goroutine reads in, one line per request: a prompt abandoned because
// the page went away leaves no second reader behind to steal the next line.
type TerminalConsole struct {
	in   io.Reader
	out  io.Writer
	opts ConsoleOptions
	mu   sync.Mutex // one prompt at a time
	reqs chan readRequest
	once sync.Once
}

type readRequest struct {
	secret bool
	reply  chan readResult // buffered: an abandoned read's result is dropped
}

type readResult struct {
	line string
	err  error
}

// NewTerminalConsole returns a console on in and out.
func NewTerminalConsole(in io.Reader, out io.Writer, opts ConsoleOptions) *TerminalConsole {
	return &TerminalConsole{in: in, out: out, opts: opts, reqs: make(chan readRequest)}
}

// Show implements Console.
func (c *TerminalConsole) Show(msg string) {
	fmt.Fprintln(c.out, msg)
}

// reader serves read requests: a line, or a secret without echo when in is
// a terminal.
func (c *TerminalConsole) reader() {
	br := bufio.NewReader(c.in)
	f, _ := c.in.(*os.File)
	tty := f != nil && term.IsTerminal(int(f.Fd()))
	for req := range c.reqs {
		var r readResult
		if req.secret && tty {
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(c.out)
			r = readResult{string(b), err}
		} else {
			l, err := br.ReadString('\n')
			if err != nil && l != "" {
				err = nil
			}
			r = readResult{strings.TrimRight(l, "\r\n"), err}
		}
		req.reply <- r
	}
}

func (c *TerminalConsole) read(ctx context.Context, secret bool) (string, error) {
	c.once.Do(func() { go c.reader() })
	req := readRequest{secret: secret, reply: make(chan readResult, 1)}
	select {
	case c.reqs <- req:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.line, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Confirm implements Console.
func (c *TerminalConsole) Confirm(ctx context.Context, summary string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.out, "")
	fmt.Fprintln(c.out, summary)
	if c.opts.Yes {
		fmt.Fprintln(c.out, "已自动确认（--yes，仅用于测试）")
		return true, nil
	}
	fmt.Fprint(c.out, "确认签名吗？输入 y 并回车确认，直接回车取消：")
	l, err := c.read(ctx, false)
	if err != nil {
		fmt.Fprintln(c.out, "\n已取消（按回车继续）")
		return false, err
	}
	l = strings.TrimSpace(l)
	ok := strings.EqualFold(l, "y") || strings.EqualFold(l, "yes") || l == "是"
	if !ok {
		fmt.Fprintln(c.out, "已取消")
	}
	return ok, nil
}

// PIN implements Console.
func (c *TerminalConsole) PIN(ctx context.Context, prompt string) (keystore.Secret, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.PINFile != "" {
		b, err := os.ReadFile(c.opts.PINFile)
		if err != nil {
			return "", fmt.Errorf("read the PIN file: %w", err)
		}
		return keystore.Secret(strings.TrimRight(string(b), "\r\n")), nil
	}
	fmt.Fprint(c.out, prompt)
	l, err := c.read(ctx, true)
	if err != nil {
		fmt.Fprintln(c.out, "\n已取消（按回车继续）")
		return "", err
	}
	if l == "" {
		return "", errors.New("empty PIN")
	}
	return keystore.Secret(l), nil
}

var _ Console = (*TerminalConsole)(nil)

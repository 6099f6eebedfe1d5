package main

import (
	"context"
	"errors"
	"io"
)

// fsconfCommand renders the FreeSWITCH configuration (issue 4; being written).
func fsconfCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	return &exitError{code: 2, err: errors.New("fsconf: not implemented yet")}
}

package esl

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/callrec/callrec/dialplan"
)

// TestSetVars_RefusesWhatOneCommandCannotCarry: uuid_setvar_multi splits on ';' and at the first
// '=' (mod_commands.c): a name with either, a value with ';', or a space anywhere would set
// other variables than asked; such a set is refused before anything is sent (no connection is
// needed to see it: the commander here has none).
func TestSetVars_RefusesWhatOneCommandCannotCarry(t *testing.T) {
	c := &commander{}
	for _, vars := range [][]dialplan.Var{
		{{Name: "a", Value: "1;b=2"}, {Name: "c", Value: "3"}},
		{{Name: "a=b", Value: "1"}, {Name: "c", Value: "3"}},
		{{Name: "a;b", Value: "1"}, {Name: "c", Value: "3"}},
		{{Name: "", Value: "1"}, {Name: "c", Value: "3"}},
		{{Name: "a", Value: "has space"}, {Name: "c", Value: "3"}},
	} {
		err := c.setVars(context.Background(), "6b5d6fb2-0000-4000-8000-000000000001", vars)
		if err == nil || !(strings.Contains(err.Error(), "one command") || errors.Is(err, ErrUnsafeValue)) {
			t.Errorf("%v: got %v, want a refusal before sending", vars, err)
		}
	}
}

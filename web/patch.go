package web

import (
	"encoding/json"
	"fmt"

	"github.com/gofiber/fiber/v2"
)

// patched returns old with the request body merged over it (fields absent from the body keep
// old's values), as a new value that shares no memory with old. A shallow copy (`upd := *old`)
// shares pointers, slices and maps, so the decoder wrote through them into old and every lock
// comparing old with the result compared the new value with itself (issue 12 item 4: a company
// admin turned allow_recording_removal on). The copy is made by a JSON round trip into a zero
// T, which allocates everything afresh; TestPatched_RoundTripIsLossless proves every PATCHable
// entity survives it whole. Errors: EINVALID from decodeJSON for a bad body; an internal error
// when old cannot be encoded.
func patched[T any](c *fiber.Ctx, old *T) (*T, error) {
	b, err := json.Marshal(old)
	if err != nil {
		return nil, fmt.Errorf("patch: copy %T: %w", old, err)
	}
	upd := new(T)
	if err := json.Unmarshal(b, upd); err != nil {
		return nil, fmt.Errorf("patch: copy %T: %w", old, err)
	}
	if err := decodeJSON(c, upd); err != nil {
		return nil, err
	}
	return upd, nil
}

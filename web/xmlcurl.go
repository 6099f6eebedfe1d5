package web

import (
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// XMLCurl serves FreeSWITCH's mod_xml_curl (bindings="dialplan") from the same templates as
// `callrec fsconf`, so a company's new on-demand code applies without reloadxml. FreeSWITCH
// authenticates with HTTP basic auth (the binding's gateway-credentials "user:password"); only
// the password is checked.
type XMLCurl struct {
	// Password is the shared secret; an empty Password refuses every request.
	Password string
	// Contexts are the dialplan contexts answered; any other gets the "not found" document and
	// FreeSWITCH falls back to its static XML. fsconf.Renderer.DialplanXML explains why only the
	// transfer context should be listed.
	Contexts []string
	// Render answers one request (fsconf.Renderer.DialplanXML).
	Render func(section, context string) ([]byte, error)
}

// notFoundXML is mod_xml_curl's "use the static configuration" answer.
const notFoundXML = `<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<document type="freeswitch/xml"><section name="result"><result status="not found"/></section></document>
`

func (x *XMLCurl) handle(c *fiber.Ctx) error {
	if !x.authorized(c.Get(fiber.HeaderAuthorization)) {
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="callrec fsconf"`)
		return errUnauthorized("basic auth with the xml_curl password required")
	}
	c.Set(fiber.HeaderContentType, "text/xml; charset=utf-8")
	section, context := c.FormValue("section"), c.FormValue("Hunt-Context")
	if context == "" {
		context = c.FormValue("Caller-Context")
	}
	served := false
	for _, ctx := range x.Contexts {
		served = served || ctx == context
	}
	if section != "dialplan" || !served {
		return c.SendString(notFoundXML)
	}
	doc, err := x.Render(section, context)
	if err != nil {
		return err
	}
	return c.Send(doc)
}

func (x *XMLCurl) authorized(header string) bool {
	if x.Password == "" {
		return false
	}
	raw, ok := strings.CutPrefix(header, "Basic ")
	if !ok {
		return false
	}
	dec, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return false
	}
	_, pw, _ := strings.Cut(string(dec), ":")
	return subtle.ConstantTimeCompare([]byte(pw), []byte(x.Password)) == 1
}

package web

import (
	"embed"
	"io/fs"
	"mime"
	"path"

	"github.com/gofiber/fiber/v2"
)

// uiFiles is the web page (SPEC §4.2): plain HTML, JS and CSS, no build step.
//
//go:embed ui
var uiFiles embed.FS

// mountUI serves the embedded page at / and its assets under /ui/.
func (s *Server) mountUI(app *fiber.App) {
	serve := func(name string) fiber.Handler {
		return func(c *fiber.Ctx) error {
			b, err := fs.ReadFile(uiFiles, "ui/"+name)
			if err != nil {
				return fiber.ErrNotFound
			}
			ct := mime.TypeByExtension(path.Ext(name))
			if ct == "" {
				ct = "application/octet-stream"
			}
			c.Set(fiber.HeaderContentType, ct)
			c.Set(fiber.HeaderCacheControl, "no-cache")
			c.Set("X-Content-Type-Options", "nosniff")
			c.Set("Content-Security-Policy", "default-src 'self'; media-src 'self' blob:"+s.mediaOrigin+"; img-src 'self' data:")
			return c.Send(b)
		}
	}
	app.Get("/", serve("index.html"))
	// A browser asks for /favicon.ico on any page without a <link rel=icon> (a file it opened
	// directly, say): the page's own icon, rather than a 404 in its console.
	app.Get("/favicon.ico", serve("icon.svg"))
	app.Get("/ui/:file", func(c *fiber.Ctx) error { return serve(c.Params("file"))(c) })
}

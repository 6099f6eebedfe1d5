package web

import (
	"encoding/base64"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/store"
	"github.com/callrec/callrec/webhook"
)

// Webhooks of a company (issue 15 item 7): company admins manage their company's, brand and
// platform admins those of their tenancy; company users never (403); other tenants' are 404.

// webhookRequest is the body of POST /webhooks; Active defaults to true.
type webhookRequest struct {
	CompanyID string   `json:"company_id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Active    *bool    `json:"active"`
}

// webhookPatch is the body of PATCH /webhooks/{id}: absent fields are kept.
type webhookPatch struct {
	URL    *string   `json:"url"`
	Events *[]string `json:"events"`
	Active *bool     `json:"active"`
}

// createdWebhook is the create reply: the webhook with its signing secret, shown this once.
type createdWebhook struct {
	*store.Webhook
	Secret string `json:"secret"`
}

// checkWebhookURL refuses plain http unless the configuration allows it (WebhookAllowHTTP),
// and, unless WebhookAllowPrivateNetworks, a host that is a non-public IP literal or localhost:
// early feedback only — the dispatcher checks every address it connects to (webhook.NewClient).
func (s *Server) checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return nil // the store's validation names it
	}
	if u.Scheme == "http" && !s.WebhookAllowHTTP {
		return store.Invalid("url", "must be an https:// URL (webhooks.allow_http is off)")
	}
	if s.WebhookAllowPrivateNetworks {
		return nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return store.Invalid("url", "must not point at this host (webhooks.allow_private_networks is off)")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := webhook.NonPublic(ip); why != "" {
			return store.Invalid("url", "%s is a %s address (webhooks.allow_private_networks is off)", ip, why)
		}
	}
	return nil
}

func (s *Server) listWebhooks(c *fiber.Ctx) error {
	return listInCompanies(s, c, "list webhooks", s.DB.Webhooks, func(w *store.Webhook) string { return w.ID })
}

// scopedWebhook loads webhook id if its company is in the caller's tenancy (else ENOTFOUND),
// then requires at least company admin (403).
func (s *Server) scopedWebhook(c *fiber.Ctx, p *principal, id string) (*store.Webhook, error) {
	w, err := s.DB.Webhook(c.UserContext(), id)
	if err != nil {
		return nil, err
	}
	if _, err := s.scopedCompany(c, p, w.CompanyID); err != nil {
		return nil, store.NotFound("webhook not found")
	}
	if err := requireRole(p, store.RoleCompanyAdmin, "manage webhooks"); err != nil {
		return nil, err
	}
	return w, nil
}

func (s *Server) getWebhook(c *fiber.Ctx) error {
	w, err := s.scopedWebhook(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(w)
}

func (s *Server) createWebhook(c *fiber.Ctx) error {
	p := caller(c)
	if err := requireRole(p, store.RoleCompanyAdmin, "create webhooks"); err != nil {
		return err
	}
	var req webhookRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	company, err := s.companyOrOwn(c, p, req.CompanyID)
	if err != nil {
		return err
	}
	req.CompanyID = company
	if err := s.checkWebhookURL(req.URL); err != nil {
		return err
	}
	w := &store.Webhook{CompanyID: req.CompanyID, URL: req.URL, Events: req.Events, Active: req.Active == nil || *req.Active}
	secret, err := s.DB.CreateWebhook(c.UserContext(), w)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(createdWebhook{Webhook: w, Secret: secret})
}

func (s *Server) updateWebhook(c *fiber.Ctx) error {
	w, err := s.scopedWebhook(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	var req webhookPatch
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.URL != nil {
		if err := s.checkWebhookURL(*req.URL); err != nil {
			return err
		}
		w.URL = *req.URL
	}
	if req.Events != nil {
		w.Events = *req.Events
	}
	if req.Active != nil {
		w.Active = *req.Active
	}
	if err := s.DB.UpdateWebhook(c.UserContext(), w); err != nil {
		return err
	}
	return c.JSON(w)
}

func (s *Server) deleteWebhook(c *fiber.Ctx) error {
	w, err := s.scopedWebhook(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	if err := s.DB.DeleteWebhook(c.UserContext(), w.ID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// webhookDeliveries answers the delivery log of a webhook, newest first, in cursor pages.
// Deliveries are kept for store.DeliveryRetention.
func (s *Server) webhookDeliveries(c *fiber.Ctx) error {
	w, err := s.scopedWebhook(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	limit, cur, err := pageParams(c)
	if err != nil {
		return err
	}
	before := ""
	if cur != "" {
		b, err := base64.RawURLEncoding.DecodeString(cur)
		if err != nil || len(b) == 0 {
			return store.Invalid("cursor", "cursor is not valid")
		}
		before = string(b)
	}
	items, more, err := s.DB.WebhookDeliveries(c.UserContext(), w.ID, before, limit)
	if err != nil {
		return err
	}
	next := ""
	if more && len(items) > 0 {
		next = base64.RawURLEncoding.EncodeToString([]byte(items[len(items)-1].ID))
	}
	return c.JSON(listReply[*store.Delivery]{Items: items, NextCursor: next})
}

// testWebhook enqueues a ping for the webhook (whatever its events, active or not) and answers
// the pending delivery: its outcome appears in the delivery log.
func (s *Server) testWebhook(c *fiber.Ctx) error {
	w, err := s.scopedWebhook(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	d, err := s.DB.EnqueuePing(c.UserContext(), w.ID)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(d)
}

package store

import (
	"context"
	"time"
)

// Store is what callrec needs of its store of record, implemented by *DB (bbolt, embedded, one
// process: the default and the reference) and by *postgres.DB (PostgreSQL, shared by several
// instances; issue 16). Every method has one meaning in both: the doc comment on the *DB method
// is the contract, the error vocabulary is this package's (*Error with its codes), and the
// conformance suite in storetest holds both to it. Any goroutine may call any method.
//
// Not in it, because they only make sense for a store one process owns: DB.Path, DB.Backup
// (a PostgreSQL deployment backs up with its own tools), DB.ReleaseJobLeases and
// DB.ReleaseDeliveryLeases (a shared store's leases belong to live instances too; a dead one's
// expire). Callers reach those by a type assertion on the store they opened.
type Store interface {
	// Schema and lifecycle.
	SchemaVersion() int
	Close() error

	// Call-path rules: a snapshot read without I/O, rebuilt after every committed change.
	Rules() *Rules
	Subscribe() (<-chan struct{}, func())

	// Admin entities.
	Brand(ctx context.Context, id string) (*Brand, error)
	Brands(ctx context.Context) ([]*Brand, error)
	CreateBrand(ctx context.Context, b *Brand) error
	UpdateBrand(ctx context.Context, b *Brand) error
	DeleteBrand(ctx context.Context, id string) error
	Company(ctx context.Context, id string) (*Company, error)
	Companies(ctx context.Context, brandID string) ([]*Company, error)
	CreateCompany(ctx context.Context, c *Company) error
	UpdateCompany(ctx context.Context, c *Company) error
	DeleteCompany(ctx context.Context, id string) error
	DDI(ctx context.Context, id string) (*DDI, error)
	DDIByNumber(ctx context.Context, number string) (*DDI, error)
	DDIs(ctx context.Context, companyID string) ([]*DDI, error)
	DDIsWithInvalidAnnouncements(ctx context.Context) ([]*DDI, error)
	CreateDDI(ctx context.Context, d *DDI) error
	UpdateDDI(ctx context.Context, d *DDI) error
	DeleteDDI(ctx context.Context, id string) error
	User(ctx context.Context, id string) (*User, error)
	UserBySIPUser(ctx context.Context, brandID, sipUser string) (*User, error)
	Users(ctx context.Context, companyID string) ([]*User, error)
	CreateUser(ctx context.Context, u *User) error
	UpdateUser(ctx context.Context, u *User) error
	DeleteUser(ctx context.Context, id string) error

	// Tokens and signed links.
	CreateToken(ctx context.Context, t *Token) error
	DeleteToken(ctx context.Context, id string) error
	Token(ctx context.Context, id string) (*Token, error)
	TokenByHash(ctx context.Context, hash []byte) (*Token, error)
	Tokens(ctx context.Context, f TokenFilter) ([]*Token, error)
	TouchToken(ctx context.Context, id string, at time.Time) error
	HasPlatformToken(ctx context.Context) (bool, error)
	LinkKey(ctx context.Context) ([]byte, error)
	AddArchiveGrant(ctx context.Context, g *ArchiveGrant, perToken, total int) error
	FindArchiveGrant(ctx context.Context, handle string) (*ArchiveGrant, error)

	// Recordings.
	StartRecording(ctx context.Context, r *Recording) (commit func() error, err error)
	CreateRecording(ctx context.Context, r *Recording) error
	Recording(ctx context.Context, id string) (*Recording, error)
	ListRecordings(ctx context.Context, f RecordingFilter) ([]*Recording, Cursor, error)
	RecordingsInState(ctx context.Context, state string, limit int) ([]*Recording, error)
	RecordingsOfNumber(ctx context.Context, companyID, e164 string) ([]*Recording, error)
	SubjectNumber(ctx context.Context, companyID, raw string) (string, error)
	CompanyRecordingsOldestFirst(ctx context.Context, companyID, afterID string, limit int) ([]*Recording, error)
	CompanyRecordingsStartedBefore(ctx context.Context, companyID, afterID string, before time.Time, limit int) ([]*Recording, error)
	CompanyUsage(ctx context.Context, companyID string) (LibraryUsage, error)
	SetRecordingMasks(ctx context.Context, id string, masks []MaskSpan) error
	FinishRecording(ctx context.Context, id string, endedAt time.Time, durationMS int64, wavPath string) error
	CompleteRecording(ctx context.Context, jobID string, res RecordingResult) error
	FailRecording(ctx context.Context, id, reason string) error
	DiscardRecording(ctx context.Context, id, reason string) error
	RetryRecording(ctx context.Context, id string) (*Recording, error)
	DeleteRecording(ctx context.Context, id string) (*Recording, error)
	DeleteRecordingAudited(ctx context.Context, id string, audit func(old *Recording) *AuditEntry) (*Recording, error)
	SetRecordingIntegrity(ctx context.Context, id, mp3Path, integrity string) error
	SetRecordingSHA256(ctx context.Context, id, mp3Path, sum string) error
	ReportMissing(ctx context.Context, mc MissingCall) (bool, error)
	HashBackfillPending(ctx context.Context) (bool, error)
	HashBackfillBatch(ctx context.Context, scan int) (recs []*Recording, next string, done bool, err error)
	AdvanceHashBackfill(ctx context.Context, next string, done bool) error

	// The audio worker's durable queue.
	Job(ctx context.Context, id string) (*Job, error)
	ClaimJob(ctx context.Context, lease time.Duration) (*Job, error)
	ExtendJobLease(ctx context.Context, jobID string, lease time.Duration) error
	AckJob(ctx context.Context, jobID string) error
	RetryJob(ctx context.Context, jobID string, notBefore time.Time, reason string) error
	DeferJob(ctx context.Context, jobID string, notBefore time.Time, reason string) error
	QueueDepth(ctx context.Context) (int, error)

	// Legal holds.
	Hold(ctx context.Context, id string) (*Hold, error)
	HoldOn(ctx context.Context, r *Recording) (*Hold, error)
	Holds(ctx context.Context, companyIDs []string, activeOnly bool) ([]*Hold, error)
	PlaceHold(ctx context.Context, h *Hold, who string) error
	ReleaseHold(ctx context.Context, id, who string) (*Hold, error)

	// Audit log.
	AppendAudit(ctx context.Context, entries ...*AuditEntry) error
	AuditPage(ctx context.Context, chain string, before uint64, limit int) ([]*AuditEntry, uint64, error)
	VerifyAudit(ctx context.Context, chain string) (AuditVerification, error)

	// Webhooks and their delivery queue.
	Webhook(ctx context.Context, id string) (*Webhook, error)
	Webhooks(ctx context.Context, companyID string) ([]*Webhook, error)
	CreateWebhook(ctx context.Context, w *Webhook) (string, error)
	UpdateWebhook(ctx context.Context, w *Webhook) error
	DeleteWebhook(ctx context.Context, id string) error
	WebhookDeliveries(ctx context.Context, webhookID, beforeID string, limit int) (out []*Delivery, more bool, err error)
	Delivery(ctx context.Context, id string) (*Delivery, error)
	EnqueuePing(ctx context.Context, id string) (*Delivery, error)
	ClaimDelivery(ctx context.Context, lease time.Duration) (*Delivery, *Webhook, error)
	DeliveryDone(ctx context.Context, id string, o DeliveryOutcome) error
	PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error)

	// Encryption at rest: companies' data keys, wrapped by the master key ring.
	NewDataKeyID() string
	AddDataKey(ctx context.Context, k *DataKey) error
	CurrentDataKey(ctx context.Context, companyID string) (*DataKey, error)
	DataKeys(ctx context.Context, companyID string) ([]*DataKey, error)
	FindDataKey(ctx context.Context, companyID, id string) (*DataKey, error)
	MasterKeysInUse(ctx context.Context) (map[string]bool, error)
	RewrapDataKeys(ctx context.Context, rewrap func(k *DataKey) (masterKeyID string, wrapped []byte, err error)) (int, error)
}

var _ Store = (*DB)(nil)

// What the page says after a save: when calls honour each setting, as the code does it (issue 14
// item 4: never "saved" for something calls will not honour). Each fact names where it lives.
//
// - The call path decides from store.DB.Rules() once, when a call starts (esl/session.go
//   Session.decide): DDI mode and announcement, user identities, the company's country and stereo,
//   the Record key permission (sip_disable_recording) and the typed *code (its DTMF matcher and
//   subscription). A save applies to calls that start from now; calls in progress keep the old
//   setting (esl TestOnDemandCodeChanged_TypedCodeFromTheNextCall). The mask code
//   (dialplan.CompanyRule.MaskCode, esl/session.go companyRule) and the DDI's consent mode
//   (dialplan.DDIRule.OptIn) are read there too.
// - A blind transfer to *code is checked against the store at each REFER, even mid-call
//   (esl/ondemand.go transferRequest; esl TestOnDemandSettingChangedMidCall_AppliesToTheNextREFER).
// - Recording removal is checked by the API on each delete (web/recordings.go deleteRecording).
// - Encryption at rest is read by the audio worker when it encodes each recording
//   (library/worker.go Worker.sealing): every MP3 encoded from now, those of calls in progress
//   too, follows it; MP3s already in the library stay as they are.
// - Retention and quota are applied by the library sweeper, at start and then every hour
//   (library/sweeper.go DefaultSweepInterval; cmd/callrec/serve.go sets no other interval).
const NEXT_CALLS = "applies to calls that start from now; calls in progress keep the old setting";
const facts = {
  company: {
    name: "",
    on_demand: "the Record key and the typed *code apply to calls that start from now (calls in progress keep the old setting); a blind transfer to the code follows it at once, also in calls in progress",
    mask_code: "the mask code applies to calls that start from now; calls in progress keep the old code",
    on_demand_code: "the typed *code applies to calls that start from now (calls in progress keep the old code); a blind transfer to the code follows it at once, also in calls in progress",
    allow_recording_removal: "recording removal follows it at once",
    retention_days: "retention is applied at the next sweep of the library, within an hour",
    quota_mb: "the quota is applied at the next sweep of the library, within an hour",
    stereo: "stereo applies to recordings of calls that start from now",
    country: "the country " + NEXT_CALLS,
    encrypt_at_rest: "encryption at rest applies to every MP3 encoded from now, those of calls in progress too; MP3s already in the library stay as they are",
  },
  ddi: { record_calls: "the recording mode " + NEXT_CALLS, announcement: "the announcement " + NEXT_CALLS,
    consent: "the consent mode " + NEXT_CALLS },
  user: { name: "", email: "", extension: "the extension " + NEXT_CALLS, sip_user: "the SIP user " + NEXT_CALLS },
};

// changed lists the fields of upd whose value differs from old.
export function changed(old, upd) {
  return Object.keys(upd).filter((k) => JSON.stringify(old[k]) !== JSON.stringify(upd[k]));
}

// savedText is the sentence shown after the API answered 2xx to a change of fields of a kind
// ("company", "ddi", "user").
export function savedText(kind, fields) {
  const said = [];
  for (const f of fields) {
    const t = (facts[kind] || {})[f];
    if (t && !said.includes(t)) said.push(t);
  }
  if (!fields.length) return "Nothing changed.";
  if (!said.length) return "Saved.";
  return "Saved — " + said.join("; ") + ".";
}

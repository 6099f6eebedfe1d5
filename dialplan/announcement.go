package dialplan

import (
	"errors"
	"fmt"
	"strings"
)

// MaxAnnouncement bounds an announcement (a FreeSWITCH playback string), in bytes.
const MaxAnnouncement = 256

// Announcement schemes, each followed by what it plays.
const (
	toneScheme    = "tone_stream://"
	silenceScheme = "silence_stream://"
	fileString    = "file_string://"
)

// StockSoundDirs are the sound directories of FreeSWITCH's own installs: the packages' sounds_dir
// and a source build's (prefix /usr/local/freeswitch). An absolute announcement must lie inside
// one of them. Anyone may call it.
func StockSoundDirs() []string {
	return []string{"/usr/share/freeswitch/sounds", "/usr/local/freeswitch/sounds"}
}

// CheckAnnouncement is the one validation of a DDI announcement: the API refuses what it refuses
// (store.DDI.Validate) and Decide does not record a call whose stored announcement it refuses, so
// the two can never disagree. An announcement is, in at most MaxAnnouncement bytes of printable
// ASCII, one of:
//
//   - a relative sound name, segments of [0-9A-Za-z_+.-] separated by '/', none empty or
//     starting with '.': FreeSWITCH plays it from the channel's sound_prefix, or else its base dir
//     (switch_ivr_play_say.c switch_ivr_play_file ~1330, ~1423);
//   - an absolute path whose directory lies inside one of StockSoundDirs, the rest a relative
//     sound name;
//   - tone_stream://TONES with TONES of [0-9A-Za-z%(),;=.+#*@_-] (teletone's syntax, no '/');
//   - silence_stream://MS or silence_stream://MS,DIVISOR, digits only;
//   - file_string://A!B!… whose parts are each one of the above.
//
// Never '..' or a hidden segment, variables ($, {, }), spaces, control characters or non-ASCII:
// FreeSWITCH splits command arguments on spaces, expands ${…} and $${…}, and a tenant must not
// play files outside the sound directories. The error says why, for the API's reply. Anyone may
// call it.
func CheckAnnouncement(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if len(s) > MaxAnnouncement {
		return fmt.Errorf("at most %d bytes", MaxAnnouncement)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c >= 0x7f:
			return errors.New("must be printable ASCII without spaces (a sound name such as ivr/recording_notice.wav)")
		case c == '$' || c == '{' || c == '}':
			return errors.New("must not contain FreeSWITCH variables ($, {, }): name the sound file itself")
		}
	}
	if rest, ok := strings.CutPrefix(s, fileString); ok {
		for part := range strings.SplitSeq(rest, "!") {
			if strings.HasPrefix(part, fileString) {
				return errors.New("file_string:// parts must not nest")
			}
			if err := checkPlayable(part); err != nil {
				return fmt.Errorf("file_string:// part %q: %w", part, err)
			}
		}
		return nil
	}
	return checkPlayable(s)
}

// checkPlayable checks one playable item (no file_string list).
func checkPlayable(s string) error {
	if rest, ok := strings.CutPrefix(s, toneScheme); ok {
		return checkTones(rest)
	}
	if rest, ok := strings.CutPrefix(s, silenceScheme); ok {
		return checkSilence(rest)
	}
	if strings.HasPrefix(s, "/") {
		for _, dir := range StockSoundDirs() {
			if rest, ok := strings.CutPrefix(s, dir+"/"); ok {
				return checkSoundName(rest)
			}
		}
		return fmt.Errorf("an absolute path must lie inside the sound directories %s; or give a sound name relative to FreeSWITCH's sound_prefix", strings.Join(StockSoundDirs(), ", "))
	}
	return checkSoundName(s)
}

// checkSoundName checks a relative sound name.
func checkSoundName(s string) error {
	if s == "" {
		return errors.New("names no sound")
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "" {
			return errors.New("has an empty path segment")
		}
		if seg[0] == '.' {
			return errors.New("must not contain '..' or hidden path segments")
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !isAlnum(c) && c != '_' && c != '-' && c != '.' && c != '+' {
				return fmt.Errorf("a sound name may hold only letters, digits and _ + . - (not %q); or use tone_stream://, silence_stream://, file_string://", c)
			}
		}
	}
	return nil
}

// checkTones checks the body of a tone_stream:// URL.
func checkTones(s string) error {
	if s == "" {
		return errors.New("tone_stream:// names no tone")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) {
			continue
		}
		switch c {
		case '%', '(', ')', ',', ';', '=', '.', '+', '#', '*', '@', '_', '-':
			continue
		}
		return fmt.Errorf("tone_stream:// may not hold %q", c)
	}
	return nil
}

// checkSilence checks the body of a silence_stream:// URL: milliseconds and an optional divisor.
func checkSilence(s string) error {
	ms, div, hasDiv := strings.Cut(s, ",")
	if !digits(ms) || (hasDiv && !digits(div)) {
		return errors.New("silence_stream:// takes milliseconds (and a divisor): silence_stream://500")
	}
	return nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Package dialplan is callrec's call policy: plain call facts and rule values in, a Plan out.
//
// It does no I/O and imports nothing of the project but the leaf package e164. The call
// controller (package esl) builds Facts from the channel data FreeSWITCH hands over, asks Decide
// for a Plan and applies it; fsconf renders FreeSWITCH configuration from the same names
// (variables, transfer context) exported here. The DTMF code matcher (CodeMatcher) lives here too,
// because which digit sequence counts as an on-demand request is policy, not plumbing.
//
// Every string of a Plan that can reach a FreeSWITCH command is free of CR, LF, spaces and other
// control characters: Decide enforces it whatever the input (SPEC.md §3, DESIGN.md "Rules that keep
// it correct").
package dialplan

package fsconf

// ContextFile is the path, relative to the output directory, of the file Render writes with
// callrec's hand-over entries for context (dialplan/<context>/00_callrec.xml). Anyone may call
// it, e.g. to find the entries of a context in an Output.
func ContextFile(context string) string { return contextFile(context) }

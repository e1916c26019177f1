package persistence

// TempPrefix exposes the temporary file prefix to the external tests, which
// plant stale temporary files as a crash mid-save would leave them.
var TempPrefix = tempPrefix

// Batch lists: the JSON-lines files `lockpipe batch` reads, one capture a line.
#pragma once

#include <string>

#include "base/status.h"
#include "pipeline/capture_job.h"

namespace lockpipe {

// A batch list: JSON lines, each either a remote capture
//   {"url": "...", "file_key": "...", "device": "...", "kind": "unlock"|"alert", "id": "..."}
// or a local file {"path": "...", "file_key": "..." | "key_env": "VAR" (or no key: plaintext),
//   "device": "...", "kind": ..., "id": ...}; optional "captured_at" (an integer: ms since the
// epoch). Lines IsBlankOrCommentListLine() accepts are skipped. Relative paths are taken from
// the list's folder.
// Only a key that is absent takes its default ("kind": "unlock"; no "id": the line number;
// no key: plaintext; no "captured_at": unknown, never approved). A key that is present must
// hold the right type and a usable value, or the line is an error that names the key and
// says what is wrong: a string is non-empty with no NUL or control character; "id" is a
// string or an integer (taken as its decimal text); "captured_at" a positive integer.
// `line_no` labels a line without an "id". An error says what is wrong with
// the line, not where it is: the caller names the list and the line.
Result<CaptureJob> ParseBatchLine(const std::string& line, const std::string& list_dir,
                                  int line_no);

// Whether a line of a batch list is skipped: blank (spaces, tabs, a CRLF
// list's "\r") or a comment (its first other character is '#'). The one test
// for the lines a batch runs and the lines its progress counts.
bool IsBlankOrCommentListLine(const std::string& line);

}  // namespace lockpipe

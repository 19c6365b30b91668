package ocicompose

/*
#include <ocicompose.h>
*/
import "C"

import "fmt"

// Status is the stable number of an outcome, the same as the C header's
// OCICOMPOSE_STATUS_* values and the core's error kinds (Python's .code names them too).
//
// A Status is also an error: the ErrX variables below are Status values, so
// errors.Is(err, ocicompose.ErrRefused) matches an *Error of that status.
type Status uint32

// Statuses below 100 are the core's error kinds; 100 and up come from the C boundary.
const (
	StatusOK                Status = C.OCICOMPOSE_STATUS_OK
	StatusSpec              Status = C.OCICOMPOSE_STATUS_SPEC
	StatusReference         Status = C.OCICOMPOSE_STATUS_REFERENCE
	StatusNotFound          Status = C.OCICOMPOSE_STATUS_NOT_FOUND
	StatusDigestMismatch    Status = C.OCICOMPOSE_STATUS_DIGEST_MISMATCH
	StatusInvalidImage      Status = C.OCICOMPOSE_STATUS_INVALID_IMAGE
	StatusInvalidLayer      Status = C.OCICOMPOSE_STATUS_INVALID_LAYER
	StatusUnsupported       Status = C.OCICOMPOSE_STATUS_UNSUPPORTED
	StatusUnsafePath        Status = C.OCICOMPOSE_STATUS_UNSAFE_PATH
	StatusIO                Status = C.OCICOMPOSE_STATUS_IO
	StatusRefused           Status = C.OCICOMPOSE_STATUS_REFUSED
	StatusCancelled         Status = C.OCICOMPOSE_STATUS_CANCELLED
	StatusRequirementFailed Status = C.OCICOMPOSE_STATUS_REQUIREMENT_FAILED
	StatusLimitExceeded     Status = C.OCICOMPOSE_STATUS_LIMIT_EXCEEDED
	StatusRegistry          Status = C.OCICOMPOSE_STATUS_REGISTRY
	StatusAuth              Status = C.OCICOMPOSE_STATUS_AUTH
	StatusPackage           Status = C.OCICOMPOSE_STATUS_PACKAGE
	StatusNullArgument      Status = C.OCICOMPOSE_STATUS_NULL_ARGUMENT
	StatusInvalidUTF8       Status = C.OCICOMPOSE_STATUS_INVALID_UTF8
	StatusInvalidArgument   Status = C.OCICOMPOSE_STATUS_INVALID_ARGUMENT
	StatusPanic             Status = C.OCICOMPOSE_STATUS_PANIC
)

// Error values to test with errors.Is, one per failing status.
var (
	ErrSpec              error = StatusSpec              // the spec is malformed; the message names the field
	ErrReference         error = StatusReference         // an image reference cannot be parsed or used
	ErrNotFound          error = StatusNotFound          // a layout, tag, platform, blob or file is missing
	ErrDigestMismatch    error = StatusDigestMismatch    // a blob does not match its descriptor
	ErrInvalidImage      error = StatusInvalidImage      // an index, manifest or config is malformed
	ErrInvalidLayer      error = StatusInvalidLayer      // a layer's tar or compressed stream is malformed
	ErrUnsupported       error = StatusUnsupported       // a media type, transport or feature ocicompose lacks
	ErrUnsafePath        error = StatusUnsafePath        // a path would escape its root
	ErrIO                error = StatusIO                // an operating-system error on a named file
	ErrRefused           error = StatusRefused           // strict and warnings: nothing written (see Error.Warnings)
	ErrCancelled         error = StatusCancelled         // the progress callback returned false: nothing written
	ErrRequirementFailed error = StatusRequirementFailed // the spec's require checks failed: nothing written
	ErrLimitExceeded     error = StatusLimitExceeded     // an input exceeds a safety limit
	ErrRegistry          error = StatusRegistry          // a registry is unreachable or kept failing
	ErrAuth              error = StatusAuth              // a registry refused the credentials (or their absence)
	ErrPackage           error = StatusPackage           // an OS package cannot be resolved, verified or installed
	ErrNullArgument      error = StatusNullArgument      // a NULL pointer reached the C ABI (a bug of this package)
	ErrInvalidUTF8       error = StatusInvalidUTF8       // a string argument is not valid UTF-8
	ErrInvalidArgument   error = StatusInvalidArgument   // an argument is out of range, or a string holds a NUL byte
	ErrPanic             error = StatusPanic             // a bug inside libocicompose; please report it
)

// String gives the stable snake_case name ("not_found").
func (s Status) String() string {
	return C.GoString(C.ocicompose_status_name(C.uint32_t(s)))
}

// Error makes a Status usable as a sentinel error.
func (s Status) Error() string {
	return "ocicompose: " + s.String()
}

// Error is a failed call: its status, the library's message (what to fix) and, for
// ErrRefused, the warnings that refused the compose.
type Error struct {
	Status   Status
	Message  string
	Warnings []Warning
}

// Error gives the message with its status name.
func (e *Error) Error() string {
	return fmt.Sprintf("ocicompose: %s: %s", e.Status, e.Message)
}

// Is reports whether target is this error's Status (one of the ErrX values).
func (e *Error) Is(target error) bool {
	s, ok := target.(Status)
	return ok && s == e.Status
}

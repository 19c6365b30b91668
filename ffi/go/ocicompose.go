// Package ocicompose composes artifact OCI images onto a base OCI image, in-process,
// through libocicompose (the C ABI of ocicompose). The same spec gives the same image,
// byte for byte, as the ocicompose command.
//
// Install the library first (make -C ffi install PREFIX=...), then build with
// PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig; at run time the loader must find
// libocicompose.so (LD_LIBRARY_PATH=$PREFIX/lib outside the system paths).
//
//	res, err := ocicompose.ComposeFile("spec.json")
//	if err != nil {
//		return err // errors.Is(err, ocicompose.ErrRefused), ...
//	}
//	defer res.Close()
//	fmt.Println(res.ManifestDigest())
//
// Design notes. Every C handle is owned by one Go value with a Close method and a
// finalizer, and every method that passes a handle to C ends with runtime.KeepAlive, so
// the finalizer cannot free it during the call. Errors come back as an owned C error
// object (not a thread-local), because a goroutine may change OS threads between two cgo
// calls. The progress callback crosses into C as a cgo.Handle number, never as a Go
// pointer.
package ocicompose

/*
#cgo pkg-config: ocicompose
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ocicompose.h>

// Defined in callback.go with //export.
extern int ocicomposeGoProgress(void *user_data, uint32_t stage, uint64_t done, uint64_t total);

// Registers the Go trampoline; the cgo.Handle number travels as user_data.
static inline ocicompose_status ocicompose_go_set_progress(ocicompose_options *opts, uintptr_t handle,
                                                           ocicompose_error **err) {
	return ocicompose_options_set_progress(opts, ocicomposeGoProgress, (void *)handle, err);
}
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync/atomic"
	"unsafe"
)

// Version is the version of the linked libocicompose, such as "0.1.0".
func Version() string {
	return C.GoString(C.ocicompose_version())
}

// Stage is a step of a compose that reports progress, in order.
type Stage uint32

// The stages, numbered as in the C header.
const (
	StageResolve       Stage = C.OCICOMPOSE_STAGE_RESOLVE
	StageReadBase      Stage = C.OCICOMPOSE_STAGE_READ_BASE
	StageReadArtifacts Stage = C.OCICOMPOSE_STAGE_READ_ARTIFACTS
	StageWriteLayer    Stage = C.OCICOMPOSE_STAGE_WRITE_LAYER
	StageCopyBlobs     Stage = C.OCICOMPOSE_STAGE_COPY_BLOBS
	StageCommit        Stage = C.OCICOMPOSE_STAGE_COMMIT
)

// String gives the stage's stable lower-case name ("write_layer").
func (s Stage) String() string {
	return C.GoString(C.ocicompose_stage_name(C.uint32_t(s)))
}

// ProgressFunc receives progress: done out of total units of a stage. Returning false
// cancels the compose, which then fails with ErrCancelled and leaves the output as it
// was. It may run on other OS threads than the caller's, one call at a time.
type ProgressFunc func(stage Stage, done, total uint64) bool

type config struct {
	jobs        int
	strict      *bool
	progress    ProgressFunc
	baseDir     string
	sourceDate  *int64
	compression string
}

// Option changes how Compose runs.
type Option func(*config)

// WithJobs sets the number of worker threads: 1 runs serially, 0 (the default) uses
// every core. The image is the same for any value.
func WithJobs(n int) Option { return func(c *config) { c.jobs = n } }

// WithStrict overrides the spec's "strict": when true, any warning (not info) makes the
// compose fail with ErrRefused and nothing is written.
func WithStrict(strict bool) Option { return func(c *config) { c.strict = &strict } }

// WithProgress sets a progress callback, which can also cancel the compose.
func WithProgress(fn ProgressFunc) Option { return func(c *config) { c.progress = fn } }

// WithBaseDir sets the folder that relative paths in the spec's references resolve
// against (Compose only; ComposeFile uses the spec file's folder, as the CLI does).
// The default is the current directory.
func WithBaseDir(dir string) Option { return func(c *config) { c.baseDir = dir } }

// WithSourceDateEpoch sets the timestamp (seconds since the epoch) of the config's
// "created" and of generated entries, overriding SOURCE_DATE_EPOCH and the base's.
func WithSourceDateEpoch(seconds int64) Option {
	return func(c *config) { c.sourceDate = &seconds }
}

// WithCompression sets how the new layers are compressed, overriding the spec's
// "layer_compression" and "compression_level" as the CLI's --compression does: "gzip",
// "zstd", "none" or "auto", each optionally with ":LEVEL" ("zstd:19"). An unknown format
// fails the compose with ErrSpec before anything is read; "" keeps the spec's.
func WithCompression(compression string) Option {
	return func(c *config) { c.compression = compression }
}

// Compose parses spec (the JSON document the ocicompose CLI reads), composes its
// artifacts onto its base and writes the new image to its "output". Close the Result
// when done (a finalizer frees it otherwise).
//
// A failure is an *Error; test it with errors.Is against ErrSpec, ErrNotFound,
// ErrRefused, ErrCancelled, and so on. On every error the output is left as it was.
func Compose(spec string, opts ...Option) (*Result, error) {
	cfg := newConfig(opts)
	cSpec, err := cString("spec", spec)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cSpec))
	var cBase *C.char
	if cfg.baseDir != "" {
		if cBase, err = cString("base dir", cfg.baseDir); err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(cBase))
	}
	var handle *C.ocicompose_spec
	var cErr *C.ocicompose_error
	if C.ocicompose_spec_from_json(cSpec, cBase, &handle, &cErr) != C.OCICOMPOSE_STATUS_OK {
		return nil, takeError(cErr)
	}
	defer C.ocicompose_spec_free(handle)
	return compose(handle, cfg)
}

// ComposeFile reads the spec file at path and composes it, exactly as
// `ocicompose compose PATH` does: relative references resolve against the file's folder.
func ComposeFile(path string, opts ...Option) (*Result, error) {
	cfg := newConfig(opts)
	cPath, err := cString("path", path)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cPath))
	var handle *C.ocicompose_spec
	var cErr *C.ocicompose_error
	if C.ocicompose_spec_from_path(cPath, &handle, &cErr) != C.OCICOMPOSE_STATUS_OK {
		return nil, takeError(cErr)
	}
	defer C.ocicompose_spec_free(handle)
	return compose(handle, cfg)
}

func newConfig(opts []Option) *config {
	cfg := &config{}
	for _, opt := range opts {
		opt(cfg)
	}
	return cfg
}

func compose(spec *C.ocicompose_spec, cfg *config) (*Result, error) {
	if cfg.jobs < 0 {
		return nil, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("argument `jobs`: %d is negative; use 0 for every core", cfg.jobs)}
	}
	opts := C.ocicompose_options_new()
	defer C.ocicompose_options_free(opts)
	var cErr *C.ocicompose_error
	if C.ocicompose_options_set_jobs(opts, C.size_t(cfg.jobs), &cErr) != C.OCICOMPOSE_STATUS_OK {
		return nil, takeError(cErr)
	}
	if cfg.strict != nil {
		value := C.uint32_t(C.OCICOMPOSE_STRICT_OFF)
		if *cfg.strict {
			value = C.OCICOMPOSE_STRICT_ON
		}
		if C.ocicompose_options_set_strict(opts, value, &cErr) != C.OCICOMPOSE_STATUS_OK {
			return nil, takeError(cErr)
		}
	}
	if cfg.sourceDate != nil {
		if C.ocicompose_options_set_source_date_epoch(opts, C.int64_t(*cfg.sourceDate), &cErr) != C.OCICOMPOSE_STATUS_OK {
			return nil, takeError(cErr)
		}
	}
	if cfg.compression != "" {
		cCompression, err := cString("compression", cfg.compression)
		if err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(cCompression))
		if C.ocicompose_options_set_compression(opts, cCompression, &cErr) != C.OCICOMPOSE_STATUS_OK {
			return nil, takeError(cErr)
		}
	}
	var progress *progressState
	if cfg.progress != nil {
		progress = &progressState{fn: cfg.progress}
		handle := cgo.NewHandle(progress)
		defer handle.Delete()
		if C.ocicompose_go_set_progress(opts, C.uintptr_t(handle), &cErr) != C.OCICOMPOSE_STATUS_OK {
			return nil, takeError(cErr)
		}
	}

	var result *C.ocicompose_result
	status := C.ocicompose_compose(spec, opts, &result, &cErr)
	if progress != nil && progress.panicked != nil {
		// The callback panicked; the compose was cancelled at that point. Re-raise the
		// panic in the caller's goroutine, where it belongs.
		if result != nil {
			C.ocicompose_result_free(result)
		}
		if cErr != nil {
			C.ocicompose_error_free(cErr)
		}
		panic(progress.panicked)
	}
	if status != C.OCICOMPOSE_STATUS_OK {
		return nil, takeError(cErr)
	}
	return newResult(result), nil
}

// Result is what a successful compose did. Its methods read the C result; Close frees
// it (a finalizer does so if Close is never called). After Close the methods return
// zero values. Close must not run concurrently with the other methods.
type Result struct {
	ptr *C.ocicompose_result
}

// finalized counts results freed by the finalizer rather than Close (read by tests).
var finalized atomic.Int64

func newResult(ptr *C.ocicompose_result) *Result {
	r := &Result{ptr: ptr}
	runtime.SetFinalizer(r, func(r *Result) {
		finalized.Add(1)
		r.free()
	})
	return r
}

func (r *Result) free() {
	if r.ptr != nil {
		C.ocicompose_result_free(r.ptr)
		r.ptr = nil
	}
}

// Close frees the result. It is safe to call more than once.
func (r *Result) Close() error {
	runtime.SetFinalizer(r, nil)
	r.free()
	return nil
}

// ManifestDigest is the new image's manifest digest, "sha256:<64 hex>": what
// `ocicompose compose` prints.
func (r *Result) ManifestDigest() string {
	s := C.GoString(C.ocicompose_result_manifest_digest(r.ptr))
	runtime.KeepAlive(r)
	return s
}

// ConfigDigest is the new image's config digest.
func (r *Result) ConfigDigest() string {
	s := C.GoString(C.ocicompose_result_config_digest(r.ptr))
	runtime.KeepAlive(r)
	return s
}

// Tag is the tag the new manifest was written under.
func (r *Result) Tag() string {
	s := C.GoString(C.ocicompose_result_tag(r.ptr))
	runtime.KeepAlive(r)
	return s
}

// Warnings lists the compose's warnings, info level included, in the report's order.
func (r *Result) Warnings() []Warning {
	n := int(C.ocicompose_result_warning_count(r.ptr))
	out := make([]Warning, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, goWarning(C.ocicompose_result_warning(r.ptr, C.size_t(i))))
	}
	runtime.KeepAlive(r)
	return out
}

// ReportJSON is the full report, the same document as the CLI's --report FILE:
// manifest_digest, config_digest, output, tag, inputs, layers, warnings, entries, stats.
func (r *Result) ReportJSON() []byte {
	p := C.ocicompose_result_report_json(r.ptr)
	var out []byte
	if p != nil {
		out = C.GoBytes(unsafe.Pointer(p), C.int(C.strlen(p)))
	}
	runtime.KeepAlive(r)
	return out
}

// Warning is one warning of a compose: what was overwritten and why it may break.
type Warning struct {
	// Code is the stable snake_case code, such as runtime_path_overwritten; the
	// header's ocicompose_warning documentation lists every code with its level.
	Code string
	// Level is "warning" (refused under strict) or "info", always the same for a Code.
	Level string
	// Path is the in-image path concerned; for empty_selection, the pattern.
	Path string
	// Artifact is the index of the artifact in the spec that caused it, or -1.
	Artifact int
	// Message says what happened and what it may break.
	Message string
}

func goWarning(w *C.ocicompose_warning) Warning {
	return Warning{
		Code:     C.GoString(C.ocicompose_warning_code(w)),
		Level:    C.GoString(C.ocicompose_warning_level(w)),
		Path:     C.GoString(C.ocicompose_warning_path(w)),
		Artifact: int(C.ocicompose_warning_artifact(w)),
		Message:  C.GoString(C.ocicompose_warning_message(w)),
	}
}

// FileEntry is one entry of an image's flattened filesystem.
type FileEntry struct {
	Path       string     `json:"path"`
	Kind       string     `json:"kind"` // file, dir, symlink, hardlink, char_device, block_device, fifo
	Mode       uint32     `json:"mode"`
	UID        uint64     `json:"uid"`
	GID        uint64     `json:"gid"`
	Size       uint64     `json:"size"`
	Mtime      uint64     `json:"mtime"`
	LinkTarget *string    `json:"link_target"`
	Device     *[2]uint32 `json:"device"`
	Xattrs     []Xattr    `json:"xattrs"`
}

// Xattr is an extended attribute of a FileEntry.
type Xattr struct {
	Name  string
	Value []byte
}

// UnmarshalJSON reads the library's form, where the value is an array of byte numbers
// (encoding/json would expect base64 for a []byte).
func (x *Xattr) UnmarshalJSON(data []byte) error {
	var raw struct {
		Name  string `json:"name"`
		Bytes []int  `json:"value"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	x.Name = raw.Name
	x.Value = make([]byte, len(raw.Bytes))
	for i, b := range raw.Bytes {
		if b < 0 || b > 255 {
			return fmt.Errorf("xattr %s: byte %d out of range", raw.Name, b)
		}
		x.Value[i] = byte(b)
	}
	return nil
}

// ListFiles returns the flattened filesystem of an image, sorted by path (what
// `ocicompose ls` shows). reference is oci:DIR[:TAG], oci-archive:FILE[:TAG],
// docker-archive:FILE[:REPO:TAG] or dir:DIR; platform is os/arch[/variant], or "" for
// linux/amd64 or the only one.
func ListFiles(reference, platform string) ([]FileEntry, error) {
	raw, err := imageJSON(reference, platform, false)
	if err != nil {
		return nil, err
	}
	var entries []FileEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("ocicompose: decoding the file list: %w", err)
	}
	return entries, nil
}

// Inspect returns a JSON summary of an image (what `ocicompose inspect` prints):
// reference, manifest digest, platform, config, layers and annotations.
func Inspect(reference, platform string) (json.RawMessage, error) {
	return imageJSON(reference, platform, true)
}

func imageJSON(reference, platform string, inspect bool) ([]byte, error) {
	cRef, err := cString("reference", reference)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cRef))
	var cPlatform *C.char
	if platform != "" {
		if cPlatform, err = cString("platform", platform); err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(cPlatform))
	}
	var out *C.char
	var cErr *C.ocicompose_error
	var status C.ocicompose_status
	if inspect {
		status = C.ocicompose_inspect(cRef, cPlatform, &out, &cErr)
	} else {
		status = C.ocicompose_list_files(cRef, cPlatform, &out, &cErr)
	}
	if status != C.OCICOMPOSE_STATUS_OK {
		return nil, takeError(cErr)
	}
	defer C.ocicompose_string_free(out)
	return C.GoBytes(unsafe.Pointer(out), C.int(C.strlen(out))), nil
}

// cString copies s for C. A Go string may hold NUL bytes, which C would silently cut
// the string at: refuse them instead.
func cString(name, s string) (*C.char, error) {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return nil, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("argument `%s` has a NUL byte at offset %d", name, i)}
	}
	return C.CString(s), nil
}

// errNoObject is returned if the library failed without an error object, which it never
// does when given somewhere to put one; it keeps a broken promise from becoming a nil
// error.
var errNoObject = errors.New("ocicompose: the call failed without an error object")

// takeError converts and frees a C error object.
func takeError(e *C.ocicompose_error) error {
	if e == nil {
		return errNoObject
	}
	defer C.ocicompose_error_free(e)
	out := &Error{
		Status:  Status(C.ocicompose_error_code(e)),
		Message: C.GoString(C.ocicompose_error_message(e)),
	}
	n := int(C.ocicompose_error_warning_count(e))
	for i := 0; i < n; i++ {
		out.Warnings = append(out.Warnings, goWarning(C.ocicompose_error_warning(e, C.size_t(i))))
	}
	return out
}

package ocicompose

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The tests compose the CLI's demo images: `ocicompose demo --dir` writes a base, two
// artifacts and spec.json. OCICOMPOSE_CLI names the binary (tests/go/run.sh sets it);
// otherwise `ocicompose` is looked up on PATH.
func cli(t *testing.T) string {
	t.Helper()
	if path := os.Getenv("OCICOMPOSE_CLI"); path != "" {
		return path
	}
	path, err := exec.LookPath("ocicompose")
	if err != nil {
		t.Skip("set OCICOMPOSE_CLI to the ocicompose binary (tests/go/run.sh does)")
	}
	return path
}

// demo writes the demo inputs into a new folder, without the composed output the demo
// command also writes.
func demo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	out, err := exec.Command(cli(t), "demo", "--dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("ocicompose demo: %v\n%s", err, out)
	}
	if err := os.RemoveAll(filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	return dir
}

var (
	cliDigestOnce sync.Once
	cliDigest     string
	cliDigestErr  error
)

// expectedDigest is what `ocicompose compose spec.json` prints for the demo.
func expectedDigest(t *testing.T) string {
	t.Helper()
	cliDigestOnce.Do(func() {
		dir := demo(t)
		var out []byte
		out, cliDigestErr = exec.Command(cli(t), "compose", filepath.Join(dir, "spec.json")).Output()
		cliDigest = strings.TrimSpace(string(out))
	})
	if cliDigestErr != nil || !strings.HasPrefix(cliDigest, "sha256:") {
		t.Fatalf("ocicompose compose: %v (printed %q)", cliDigestErr, cliDigest)
	}
	return cliDigest
}

// demoSpec is the demo's spec with its output moved to output.
func demoSpec(t *testing.T, dir, output string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(dir, "spec.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]interface{}
	if err := json.Unmarshal(text, &spec); err != nil {
		t.Fatal(err)
	}
	spec["output"] = "oci:" + output
	out, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestVersion(t *testing.T) {
	if v := Version(); v == "" || v[0] < '0' || v[0] > '9' {
		t.Fatalf("Version() = %q", v)
	}
}

func TestComposeFileMatchesTheCLI(t *testing.T) {
	want := expectedDigest(t)
	dir := demo(t)
	res, err := ComposeFile(filepath.Join(dir, "spec.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if got := res.ManifestDigest(); got != want {
		t.Errorf("ManifestDigest() = %s, CLI printed %s", got, want)
	}
	if got := res.Tag(); got != "1.0_custom" {
		t.Errorf("Tag() = %q", got)
	}
	if cd := res.ConfigDigest(); !strings.HasPrefix(cd, "sha256:") || len(cd) != 71 {
		t.Errorf("ConfigDigest() = %q", cd)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "index.json")); err != nil {
		t.Errorf("no output layout: %v", err)
	}
}

func TestComposeJSONWithBaseDirAndOneJob(t *testing.T) {
	want := expectedDigest(t)
	dir := demo(t)
	spec, err := os.ReadFile(filepath.Join(dir, "spec.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Compose(string(spec), WithBaseDir(dir), WithJobs(1))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if got := res.ManifestDigest(); got != want {
		t.Errorf("ManifestDigest() = %s, CLI printed %s", got, want)
	}
	var report struct {
		ManifestDigest string            `json:"manifest_digest"`
		Entries        []json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(res.ReportJSON(), &report); err != nil {
		t.Fatalf("ReportJSON: %v", err)
	}
	if report.ManifestDigest != want || len(report.Entries) == 0 {
		t.Errorf("report: digest %s, %d entries", report.ManifestDigest, len(report.Entries))
	}
}

// Every status and stage with its name: the C constant's suffix in lower case.
var (
	statusNames = map[Status]string{
		StatusOK: "ok", StatusSpec: "spec", StatusReference: "reference", StatusNotFound: "not_found",
		StatusDigestMismatch: "digest_mismatch", StatusInvalidImage: "invalid_image",
		StatusInvalidLayer: "invalid_layer", StatusUnsupported: "unsupported", StatusUnsafePath: "unsafe_path",
		StatusIO: "io", StatusRefused: "refused", StatusCancelled: "cancelled",
		StatusRequirementFailed: "requirement_failed", StatusLimitExceeded: "limit_exceeded",
		StatusRegistry: "registry", StatusAuth: "auth", StatusPackage: "package", StatusNullArgument: "null_argument",
		StatusInvalidUTF8: "invalid_utf8", StatusInvalidArgument: "invalid_argument", StatusPanic: "panic",
	}
	stageNames = map[Stage]string{
		StageResolve: "resolve", StageReadBase: "read_base", StageReadArtifacts: "read_artifacts",
		StageWriteLayer: "write_layer", StageCopyBlobs: "copy_blobs", StageCommit: "commit",
	}
	// Every warning code with its level, as the header documents them.
	warningLevels = map[string]string{
		"runtime_path_overwritten": "warning", "symlink_shadowed": "warning", "type_changed": "warning",
		"permissions_changed": "warning", "empty_selection": "warning", "artifact_overwritten": "info",
		"runtime_path_removed": "warning", "resolved_through_symlink": "info", "unknown_user": "warning",
		"root_user": "warning", "entrypoint_missing": "warning", "mutable_reference": "info",
		"unsigned_repository": "warning", "maintainer_script_skipped": "warning", "ld_cache_stale": "warning",
	}
)

// A number the library names but this package has no constant for (a kind the core
// added) fails here.
func TestEveryStatusAndStageHasAConstantAndItsName(t *testing.T) {
	if len(statusNames) != 21 || len(stageNames) != 6 || len(warningLevels) != 15 {
		t.Fatalf("%d statuses, %d stages, %d warning codes", len(statusNames), len(stageNames), len(warningLevels))
	}
	for n := uint32(0); n < 1024; n++ {
		want := statusNames[Status(n)]
		if want == "" {
			want = "unknown"
		}
		if got := Status(n).String(); got != want {
			t.Errorf("status %d is named %q, want %q (a status without a Go constant?)", n, got, want)
		}
		want = stageNames[Stage(n)]
		if want == "" {
			want = "unknown"
		}
		if got := Stage(n).String(); got != want {
			t.Errorf("stage %d is named %q, want %q (a stage without a Go constant?)", n, got, want)
		}
	}
}

func TestWarnings(t *testing.T) {
	dir := demo(t)
	res, err := Compose(demoSpec(t, dir, filepath.Join(t.TempDir(), "out")), WithBaseDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	found := map[string]Warning{}
	for _, w := range res.Warnings() {
		if w.Message == "" || w.Artifact < -1 || w.Artifact > 1 {
			t.Errorf("malformed warning %+v", w)
		}
		if level, ok := warningLevels[w.Code]; !ok || w.Level != level {
			t.Errorf("warning %+v: a code this test does not know, or level %q, want %q", w, w.Level, level)
		}
		found[w.Code+" "+w.Path] = w
	}
	for _, key := range []string{"runtime_path_overwritten /usr/bin/sh", "permissions_changed /tmp", "empty_selection /etc/tool.cnf"} {
		w, ok := found[key]
		if !ok {
			t.Errorf("no %s warning in %v", key, found)
		} else if w.Artifact != 1 && w.Code != "permissions_changed" {
			t.Errorf("%s: artifact %d, want 1", key, w.Artifact)
		}
	}
}

func TestProgress(t *testing.T) {
	dir := demo(t)
	var stages []Stage
	progress := func(stage Stage, done, total uint64) bool {
		if done > total {
			t.Errorf("%s: done %d > total %d", stage, done, total)
		}
		stages = append(stages, stage)
		return true
	}
	res, err := Compose(demoSpec(t, dir, filepath.Join(t.TempDir(), "out")), WithBaseDir(dir), WithProgress(progress))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if len(stages) == 0 || stages[len(stages)-1] != StageCommit {
		t.Fatalf("stages %v, want them to end with %s", stages, StageCommit)
	}
	for i := 1; i < len(stages); i++ {
		if stages[i] < stages[i-1] {
			t.Fatalf("stages out of order: %v", stages)
		}
	}
}

func TestCancelLeavesNoOutput(t *testing.T) {
	dir := demo(t)
	out := filepath.Join(t.TempDir(), "out")
	calls := 0
	stop := func(Stage, uint64, uint64) bool { calls++; return false }
	res, err := Compose(demoSpec(t, dir, out), WithBaseDir(dir), WithProgress(stop))
	if !errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v, want ErrCancelled", err)
	}
	if res != nil || calls != 1 {
		t.Errorf("result %v, %d calls after cancelling", res, calls)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("cancelled compose wrote %d entries into %s", len(entries), out)
	}
}

func TestPanicInProgressReachesTheCaller(t *testing.T) {
	dir := demo(t)
	out := filepath.Join(t.TempDir(), "out")
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v, want the callback's panic", r)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("a panicking callback left %d entries in %s", len(entries), out)
		}
	}()
	_, _ = Compose(demoSpec(t, dir, out), WithBaseDir(dir), WithProgress(func(Stage, uint64, uint64) bool { panic("boom") }))
	t.Fatal("Compose returned instead of re-raising the callback's panic")
}

func TestStrictRefusesWithWarnings(t *testing.T) {
	dir := demo(t)
	out := filepath.Join(t.TempDir(), "out")
	_, err := Compose(demoSpec(t, dir, out), WithBaseDir(dir), WithStrict(true))
	if !errors.Is(err, ErrRefused) || errors.Is(err, ErrSpec) {
		t.Fatalf("err = %v, want ErrRefused only", err)
	}
	var e *Error
	if !errors.As(err, &e) || len(e.Warnings) == 0 {
		t.Fatalf("err = %#v, want an *Error with warnings", err)
	}
	// The error lists what the compose would have printed, info included; the
	// warnings of level "warning" are what refused it.
	serious := 0
	for _, w := range e.Warnings {
		if w.Level == "warning" {
			serious++
		}
	}
	if serious < 3 {
		t.Errorf("%d warnings of level warning in %+v", serious, e.Warnings)
	}
	if _, statErr := os.Stat(filepath.Join(out, "index.json")); statErr == nil {
		t.Error("a refused compose wrote index.json")
	}
}

// The spec's require checks and limits refuse the compose; nothing is written.
func TestRequirementFailedAndLimitExceeded(t *testing.T) {
	dir := demo(t)
	cases := []struct {
		field string
		value interface{}
		want  error
		names string
	}{
		{"require", []map[string]string{{"path": "/usr/bin/not-there"}}, ErrRequirementFailed, "/usr/bin/not-there"},
		{"limits", map[string]int{"max_layer_entries": 1}, ErrLimitExceeded, "max_layer_entries"},
	}
	for _, c := range cases {
		out := filepath.Join(t.TempDir(), "out")
		var spec map[string]interface{}
		if err := json.Unmarshal([]byte(demoSpec(t, dir, out)), &spec); err != nil {
			t.Fatal(err)
		}
		spec[c.field] = c.value
		text, _ := json.Marshal(spec)
		_, err := Compose(string(text), WithBaseDir(dir))
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.names) {
			t.Errorf("%s: err = %v, want %v naming %s", c.field, err, c.want, c.names)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("%s: the failed compose left %d entries in %s", c.field, len(entries), out)
		}
	}
}

func TestErrorsHaveTheirStatus(t *testing.T) {
	missingLayout := "oci:" + filepath.Join(t.TempDir(), "missing")
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"malformed spec", func() error { _, err := Compose(`{"base": `); return err }, ErrSpec},
		{"misspelt field", func() error {
			_, err := Compose(`{"base": "oci:b", "output": "oci:o", "artifacts": [{"image": "oci:a", "include": ["/x"], "exlude": ["/y"]}]}`)
			return err
		}, ErrSpec},
		{"missing spec file", func() error { _, err := ComposeFile(filepath.Join(t.TempDir(), "nope.json")); return err }, ErrIO},
		{"invalid UTF-8", func() error { _, err := Compose("{\"base\": \"\xff\"}"); return err }, ErrInvalidUTF8},
		{"NUL byte", func() error { _, err := Compose("{}\x00"); return err }, ErrInvalidArgument},
		{"negative jobs", func() error { _, err := Compose(`{"base": "oci:b", "output": "oci:o"}`, WithJobs(-1)); return err }, ErrInvalidArgument},
		{"no transport", func() error { _, err := ListFiles("no-transport", ""); return err }, ErrReference},
		{"docker-daemon transport", func() error { _, err := Inspect("docker-daemon:debian:12", ""); return err }, ErrUnsupported},
		{"unreachable registry", func() error {
			_, err := Compose(`{"base": "docker://127.0.0.1:1/lib/base:1", "tls_verify": false, "output": "docker://127.0.0.1:1/app/x:1"}`)
			return err
		}, ErrRegistry},
		{"missing layout", func() error { _, err := ListFiles(missingLayout, ""); return err }, ErrNotFound},
	}
	for _, c := range cases {
		err := c.call()
		var e *Error
		if !errors.Is(err, c.want) || !errors.As(err, &e) || e.Message == "" {
			t.Errorf("%s: err = %v, want %v with a message", c.name, err, c.want)
		}
	}
	_, err := Compose(`{"base": "oci:b", "output": "oci:o", "ouput": 1}`)
	if err == nil || !strings.Contains(err.Error(), "ouput") || !strings.Contains(err.Error(), "spec") {
		t.Errorf("the message should name the bad field and the status: %v", err)
	}
}

// WithCompression("zstd") writes the new layer as tar+zstd and the same config as the
// spec's gzip; an unknown format is a spec error that says what is accepted.
func TestCompression(t *testing.T) {
	dir := demo(t)
	type layer struct {
		MediaType string `json:"media_type"`
		New       bool   `json:"new"`
	}
	newLayers := func(res *Result) []string {
		var report struct {
			Layers []layer `json:"layers"`
		}
		if err := json.Unmarshal(res.ReportJSON(), &report); err != nil {
			t.Fatalf("ReportJSON: %v", err)
		}
		var types []string
		for _, l := range report.Layers {
			if l.New {
				types = append(types, l.MediaType)
			}
		}
		return types
	}
	gz, err := Compose(demoSpec(t, dir, filepath.Join(t.TempDir(), "gzip")), WithBaseDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	zs, err := Compose(demoSpec(t, dir, filepath.Join(t.TempDir(), "zstd")), WithBaseDir(dir), WithCompression("zstd:19"))
	if err != nil {
		t.Fatal(err)
	}
	defer zs.Close()
	if got := newLayers(zs); len(got) != 1 || got[0] != "application/vnd.oci.image.layer.v1.tar+zstd" {
		t.Errorf("zstd: new layers %v, want one tar+zstd", got)
	}
	if got := newLayers(gz); len(got) != 1 || got[0] != "application/vnd.oci.image.layer.v1.tar+gzip" {
		t.Errorf("default: new layers %v, want one tar+gzip", got)
	}
	if zs.ConfigDigest() != gz.ConfigDigest() || zs.ManifestDigest() == gz.ManifestDigest() {
		t.Errorf("zstd should change the manifest only: configs %s / %s, manifests %s / %s",
			zs.ConfigDigest(), gz.ConfigDigest(), zs.ManifestDigest(), gz.ManifestDigest())
	}
	out := filepath.Join(t.TempDir(), "bad")
	_, err = Compose(demoSpec(t, dir, out), WithBaseDir(dir), WithCompression("brotli"))
	var e *Error
	if !errors.Is(err, ErrSpec) || !errors.As(err, &e) || !strings.Contains(e.Message, "`zstd`") {
		t.Errorf("brotli: err = %v, want ErrSpec naming the accepted formats", err)
	}
	_, err = Compose(demoSpec(t, dir, out), WithBaseDir(dir), WithCompression("zstd:25"))
	if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), "compression_level") {
		t.Errorf("zstd:25: err = %v, want ErrSpec naming compression_level", err)
	}
	if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
		t.Errorf("a refused compression wrote %s: %v", out, statErr)
	}
}

func TestListFilesAndInspect(t *testing.T) {
	dir := demo(t)
	ref := "oci:" + filepath.Join(dir, "images", "base") + ":1.0"
	entries, err := ListFiles(ref, "")
	if err != nil {
		t.Fatal(err)
	}
	var passwd *FileEntry
	for i := range entries {
		if entries[i].Path == "/etc/passwd" {
			passwd = &entries[i]
		}
		if i > 0 && entries[i-1].Path >= entries[i].Path {
			t.Errorf("not sorted: %s before %s", entries[i-1].Path, entries[i].Path)
		}
	}
	if passwd == nil || passwd.Kind != "file" || passwd.Size == 0 {
		t.Fatalf("/etc/passwd: %+v", passwd)
	}
	raw, err := Inspect(ref, "linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	var summary map[string]interface{}
	if err := json.Unmarshal(raw, &summary); err != nil || !strings.Contains(string(raw), "sha256:") {
		t.Fatalf("Inspect: %v: %s", err, raw)
	}
}

func TestConcurrentComposes(t *testing.T) {
	want := expectedDigest(t)
	dir := demo(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	digests := make([]string, 4)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := Compose(demoSpec(t, dir, filepath.Join(t.TempDir(), "out")), WithBaseDir(dir), WithJobs(2))
			if err != nil {
				errs[i] = err
				return
			}
			defer res.Close()
			digests[i] = res.ManifestDigest()
		}(i)
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil || digests[i] != want {
			t.Errorf("goroutine %d: %v, digest %s, want %s", i, errs[i], digests[i], want)
		}
	}
}

// Results that are never closed are freed by their finalizer; closing twice is fine and
// a closed result reads as empty. Run with GOGC=1 (tests/go/run.sh does) to make the
// collector run often during every other test too.
func TestCloseAndFinalizer(t *testing.T) {
	dir := demo(t)
	spec := demoSpec(t, dir, filepath.Join(t.TempDir(), "out"))
	res, err := Compose(spec, WithBaseDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Close(); err != nil {
		t.Fatal(err)
	}
	if err := res.Close(); err != nil {
		t.Fatal(err)
	}
	if res.ManifestDigest() != "" || res.Warnings() == nil || len(res.Warnings()) != 0 || res.ReportJSON() != nil {
		t.Error("a closed result should read as empty")
	}

	before := finalized.Load()
	for i := 0; i < 3; i++ {
		res, err := Compose(spec, WithBaseDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		_ = res.ManifestDigest() // used, then dropped without Close
	}
	for i := 0; i < 20 && finalized.Load() < before+3; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if got := finalized.Load() - before; got < 3 {
		t.Errorf("%d of 3 dropped results were finalized", got)
	}
}

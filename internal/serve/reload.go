package serve

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Reload re-reads the configured rules files and applies them, as SIGHUP,
// the file watcher and POST /v1/rules/reload do. On error the running
// rules stay.
func (s *Service) Reload(ctx context.Context, actor string) error {
	_, err := s.rules.ReloadConfigured(ctx, actor, actor)
	if err != nil {
		s.log.Error("reload refused: the running rules stay", "source", actor, "err", err)
	}
	return err
}

// reloadOnSignal reloads the configured files on every SIGHUP.
func (s *Service) reloadOnSignal(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			s.log.Info("SIGHUP: reloading the rules files")
			_ = s.Reload(ctx, "sighup")
		}
	}
}

// watchDebounce is how long the rules files must stay quiet after a change
// before they are reloaded: an editor's save, or a deploy copying several
// files, is one reload.
const watchDebounce = 300 * time.Millisecond

// watchPoll is how often the watcher compares the files even without an
// event.
const watchPoll = 2 * time.Second

// watchRules reloads the configured files when they change. It watches the
// directories (editors replace files by renaming, which a watch on the
// file itself would lose) and only reacts to rules files in them.
func (s *Service) watchRules(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Error("rules_watch: cannot watch the rules files; SIGHUP and the API still reload", "err", err)
		return
	}
	defer w.Close()
	dirs := map[string]bool{}
	watch := func(dir string) {
		if !dirs[dir] {
			dirs[dir] = true
			if err := w.Add(dir); err != nil {
				s.log.Error("rules_watch: cannot watch a directory", "dir", dir, "err", err)
			}
		}
	}
	watchAll := func() {
		for _, p := range s.cfg.Rules {
			// The parent too: a directory replaced by a rename (a deploy
			// swapping rules.new into place) is seen there.
			watch(filepath.Dir(filepath.Clean(p)))
			fi, err := os.Stat(p)
			if err == nil && !fi.IsDir() {
				continue
			}
			// Rules directories are read recursively: watch every level.
			_ = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					watch(path)
				}
				return nil
			})
		}
	}
	watchAll()
	// Events can be missed (a directory swapped under the watch, a
	// ConfigMap's symlink flip): the files are also compared every few
	// seconds, which costs a read of them and nothing when unchanged.
	poll := time.NewTicker(watchPoll)
	defer poll.Stop()
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			timer = time.After(0)
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Remove) {
				// A new or replaced directory: watch what is there now.
				clear(dirs)
				watchAll()
			}
			// Rules files and the list files beside them; not editors'
			// swap and backup files.
			if base := filepath.Base(ev.Name); !strings.HasPrefix(base, ".") && !strings.HasSuffix(base, "~") &&
				!strings.HasSuffix(base, ".swp") && !strings.HasSuffix(base, "_test.yaml") && !strings.HasSuffix(base, "_test.yml") {
				timer = time.After(watchDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			s.log.Warn("rules_watch", "err", err)
		case <-timer:
			timer = nil
			res, changed, err := s.rules.ReloadIfChanged(ctx, "file", "file")
			switch {
			case err != nil:
				s.log.Error("reload refused: the running rules stay", "source", "file", "err", err)
			case changed:
				s.log.Info("rules files changed: applied", "version", res.Version)
			}
		}
	}
}

package admintest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
	"github.com/shoalsync/shoal/transport/wire"
)

// Restore records one successful RestoreVersion call.
type Restore struct {
	Folder  string
	Request model.RestoreRequest
	Version model.Version // the version that was put back
}

// AddConflict records a conflict copy in c.Folder and counts it in the
// folder's status.
func (a *Agent) AddConflict(c model.Conflict) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.conflicts = append(a.conflicts, c)
	if i := a.folderIndex(c.Folder); i >= 0 {
		a.folders[i].Conflicts++
	}
}

// AddVersion records an archived version of v.Path in a folder's archive.
func (a *Agent) AddVersion(folderID string, v model.Version) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.versions[folderID] = append(a.versions[folderID], v)
}

// SetDifferences replaces the differences of a folder and sets their count
// in the folder's status.
func (a *Agent) SetDifferences(folderID string, ds []model.Difference) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.diffs[folderID] = slices.Clone(ds)
	if i := a.folderIndex(folderID); i >= 0 {
		a.folders[i].Differences = int64(len(ds))
	}
}

// Restores returns the successful RestoreVersion calls, oldest first.
func (a *Agent) Restores() []Restore {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.restores)
}

// folder returns the index of a configured folder, or an error matching
// model.ErrNotFound. a.mu must be held.
func (a *Agent) folder(id string) (int, error) {
	i := a.folderIndex(id)
	if i < 0 {
		return -1, fmt.Errorf("folder %s: %w", id, model.ErrNotFound)
	}
	return i, nil
}

func checkPath(p string) error {
	if err := wire.ValidName(p); err != nil {
		return fmt.Errorf("%w: file path %q: %v", model.ErrInvalid, p, err)
	}
	return nil
}

// UpdateFolder implements admin.Agent. It validates the whole request
// before changing anything; the status shows the settings in effect, with
// defaults filled in as the engine reports them.
func (a *Agent) UpdateFolder(ctx context.Context, folderID string, req model.UpdateFolderRequest) (model.FolderStatus, error) {
	if err := a.enter(ctx, "UpdateFolder"); err != nil {
		return model.FolderStatus{}, err
	}
	if req.Mode != nil {
		switch *req.Mode {
		case config.ModeSendReceive, config.ModeSendOnly, config.ModeReceiveOnly:
		default:
			return model.FolderStatus{}, fmt.Errorf("%w: folder %s: mode %q (use send-receive, send-only or receive-only)", model.ErrInvalid, folderID, *req.Mode)
		}
	}
	if req.Versioning != nil {
		if err := req.Versioning.Validate(); err != nil {
			return model.FolderStatus{}, err
		}
	}
	if req.MaxConflicts != nil && *req.MaxConflicts < -1 {
		return model.FolderStatus{}, fmt.Errorf("%w: folder %s: maxConflicts %d (use -1 for no cap)", model.ErrInvalid, folderID, *req.MaxConflicts)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i, err := a.folder(folderID)
	if err != nil {
		return model.FolderStatus{}, err
	}
	f := &a.folders[i]
	if req.Label != nil {
		f.Label = *req.Label // as the engine: "" clears it
	}
	if req.Mode != nil {
		f.Mode = *req.Mode
		if f.Mode == config.ModeSendReceive { // nothing is held back any more
			delete(a.diffs, folderID)
			f.Differences = 0
		}
	}
	if req.Versioning != nil {
		v := *req.Versioning
		f.Versioning = config.Folder{Versioning: &v}.EffectiveVersioning()
	}
	if req.MaxConflicts != nil {
		f.MaxConflicts = config.Folder{MaxConflicts: *req.MaxConflicts}.EffectiveMaxConflicts()
	}
	return cloneFolders(a.folders[i : i+1])[0], nil
}

// Conflicts implements admin.Agent. The list is sorted by folder, then path.
func (a *Agent) Conflicts(ctx context.Context, folderID string) ([]model.Conflict, error) {
	if err := a.enter(ctx, "Conflicts"); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if folderID != "" {
		if _, err := a.folder(folderID); err != nil {
			return nil, err
		}
	}
	var out []model.Conflict
	for _, c := range a.conflicts {
		if folderID == "" || c.Folder == folderID {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(x, y model.Conflict) int {
		return cmp.Or(cmp.Compare(x.Folder, y.Folder), cmp.Compare(x.Path, y.Path))
	})
	return out, nil
}

// versionsOf returns the archived versions of path, newest first. a.mu must
// be held.
func (a *Agent) versionsOf(folderID, path string) []model.Version {
	var out []model.Version
	for _, v := range a.versions[folderID] {
		if v.Path == path {
			out = append(out, v)
		}
	}
	slices.SortStableFunc(out, func(x, y model.Version) int { return y.ArchivedAt.Compare(x.ArchivedAt) })
	return out
}

// Versions implements admin.Agent.
func (a *Agent) Versions(ctx context.Context, folderID, path string) ([]model.Version, error) {
	if err := a.enter(ctx, "Versions"); err != nil {
		return nil, err
	}
	if err := checkPath(path); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.folder(folderID); err != nil {
		return nil, err
	}
	return a.versionsOf(folderID, path), nil
}

// RestoreVersion implements admin.Agent like the engine chooses: the newest
// version archived at or before req.At, the newest one when At is zero. It
// records the restore (see Restores) and leaves the archive as it is.
func (a *Agent) RestoreVersion(ctx context.Context, folderID string, req model.RestoreRequest) (model.Version, error) {
	if err := a.enter(ctx, "RestoreVersion"); err != nil {
		return model.Version{}, err
	}
	if err := checkPath(req.Path); err != nil {
		return model.Version{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.folder(folderID); err != nil {
		return model.Version{}, err
	}
	vs := a.versionsOf(folderID, req.Path)
	if len(vs) == 0 {
		return model.Version{}, fmt.Errorf("no archived version of %s in folder %s: %w", req.Path, folderID, model.ErrNotFound)
	}
	i := slices.IndexFunc(vs, func(v model.Version) bool { return req.At.IsZero() || !v.ArchivedAt.After(req.At) })
	if i < 0 {
		return model.Version{}, fmt.Errorf("no version of %s archived at or before %s (the oldest is from %s): %w",
			req.Path, req.At.Format(time.RFC3339), vs[len(vs)-1].ArchivedAt.Format(time.RFC3339), model.ErrNotFound)
	}
	a.restores = append(a.restores, Restore{Folder: folderID, Request: req, Version: vs[i]})
	return vs[i], nil
}

// OverrideFolder implements admin.Agent: it clears the folder's
// differences, as if every device had taken this folder's state.
func (a *Agent) OverrideFolder(ctx context.Context, folderID string) error {
	if err := a.enter(ctx, "OverrideFolder"); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i, err := a.folder(folderID)
	if err != nil {
		return err
	}
	if m := a.folders[i].Mode; m != config.ModeSendOnly {
		return fmt.Errorf("%w: folder %s is %s; override applies to send-only folders", model.ErrInvalid, folderID, modeName(m))
	}
	delete(a.diffs, folderID)
	a.folders[i].Differences = 0
	return nil
}

// RevertFolder implements admin.Agent: local changes to files become
// archived versions and the folder's differences are cleared.
func (a *Agent) RevertFolder(ctx context.Context, folderID string) error {
	if err := a.enter(ctx, "RevertFolder"); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i, err := a.folder(folderID)
	if err != nil {
		return err
	}
	if m := a.folders[i].Mode; m != config.ModeReceiveOnly {
		return fmt.Errorf("%w: folder %s is %s; revert applies to receive-only folders", model.ErrInvalid, folderID, modeName(m))
	}
	now := time.Now()
	for _, d := range a.diffs[folderID] {
		if d.Kind == model.DiffLocalChange && d.Local == "file" {
			a.versions[folderID] = append(a.versions[folderID], model.Version{Path: d.Path, ArchivedAt: now, ModTime: now})
		}
	}
	delete(a.diffs, folderID)
	a.folders[i].Differences = 0
	return nil
}

// Differences implements admin.Agent.
func (a *Agent) Differences(ctx context.Context, folderID string) ([]model.Difference, error) {
	if err := a.enter(ctx, "Differences"); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.folder(folderID); err != nil {
		return nil, err
	}
	return slices.Clone(a.diffs[folderID]), nil
}

func modeName(m string) string {
	if m == "" {
		return config.ModeSendReceive
	}
	return m
}

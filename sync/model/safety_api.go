package model

import (
	"context"
	"errors"
)

var errTODO = errors.New("not implemented yet")

// Conflicts lists the conflict copies in a folder, or in every folder when
// folderID is empty.
func (m *Model) Conflicts(ctx context.Context, folderID string) ([]Conflict, error) {
	return nil, errTODO
}

// Versions lists the archived versions of path in a folder, newest first.
func (m *Model) Versions(ctx context.Context, folderID, path string) ([]Version, error) {
	return nil, errTODO
}

// RestoreVersion puts an archived version back in place. The current file,
// if any, is archived first. The restore is a local change that then syncs.
func (m *Model) RestoreVersion(ctx context.Context, folderID string, req RestoreRequest) (Version, error) {
	return Version{}, errTODO
}

// UpdateFolder changes a folder's settings.
func (m *Model) UpdateFolder(ctx context.Context, folderID string, req UpdateFolderRequest) (FolderStatus, error) {
	return FolderStatus{}, errTODO
}

// OverrideFolder makes every device match this send-only folder.
func (m *Model) OverrideFolder(ctx context.Context, folderID string) error {
	return errTODO
}

// RevertFolder puts back the shared state in a receive-only folder; local
// changes go to the version archive first.
func (m *Model) RevertFolder(ctx context.Context, folderID string) error {
	return errTODO
}

// Differences lists the paths where a send-only or receive-only folder
// differs from the shared state.
func (m *Model) Differences(ctx context.Context, folderID string) ([]Difference, error) {
	return nil, errTODO
}

// Package durable writes files that survive a crash once the call
// returns: the data synced, and the folder that names them.
package durable

import "os"

// SyncDir makes the names in dir durable: a file created, renamed or
// removed there survives a crash once it returns.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriteNew creates path, which must not exist, with data, and syncs it;
// the folder is the caller's to sync (SyncDir) once its files are written.
func WriteNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

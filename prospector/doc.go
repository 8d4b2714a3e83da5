// Package prospector finds the files to read and runs one harvester for each.
//
//	globs ──scan (every scan_frequency, and on fsnotify create/rename/remove)──▶ files
//	files ──identity (device+inode, head fingerprint)──▶ one harvester per file
//	fsnotify write ──wake──▶ that file's harvester
//
// A file keeps its harvester, and its place, when it is renamed: identity
// is the device and inode, not the path. Where reading resumes comes from the
// harvester that last read the file in this process, else from the registry,
// and is only trusted when the file's first bytes still hash to the
// fingerprint recorded with it (otherwise the inode was reused by a new file,
// which is read from its start).
package prospector

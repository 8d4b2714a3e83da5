// Package fileid is the one home of file identity: how logship knows a file
// and its content, and whether it may read on from a position.
//
//   - ID (device and inode) is a file's identity, the registry's key.
//   - A Fingerprint hashes a content's first FingerprintSize bytes; it grows
//     while the file is shorter, so two fingerprints compare as prefixes
//     (Head.StartsWith, Set.Each), never only as equals.
//   - A Position is an offset after a newline with a hash of the line before
//     it; Check says whether a file still holds that line there.
//   - Marks are recent positions in a content, which tell a copy of it from a
//     file that merely starts the same way (ResumeCopy).
//   - The Index remembers, by fingerprint, how far contents were read and
//     delivered, so that the same content under another inode (a
//     copytruncate copy, a .gz, a file moved across filesystems) continues.
//
// The prospector decides with it where a file starts, the harvester checks
// with it that its file is still the content it reads, and the registry and
// the output record Positions and Fingerprints.
package fileid

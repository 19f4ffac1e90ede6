package masterkey

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/certbind/certbind/services/certmgr/seal"
)

// Resume brings ring, loaded from the current key file, in line with st
// and the key files at start, after a rotation that may have been cut off
// at any step (see the package doc):
//
//   - a rotation under way (the store names a next key): the next key file
//     must hold that key; it joins the ring as its primary, and rotating is
//     true so that the caller finishes the re-sealing;
//   - a rotation whose re-sealing finished but whose files were not yet
//     swapped (the store's check value is the next key's): the swap is
//     finished and the next key becomes the ring's primary;
//   - a next key file that the store never recorded (a crash before step
//     2): nothing was sealed with it, and it is removed.
//
// Checking the current key against the store is left to the caller.
func Resume(st KeyRecords, ring *seal.Sealer, files Files, log *slog.Logger) (rotating bool, err error) {
	if err := os.Remove(files.nextTemp()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	check, err := st.KeyCheck()
	if err != nil {
		return false, err
	}
	nextCheck, err := st.KeyNext()
	if err != nil {
		return false, err
	}
	next, nextErr := seal.LoadKeyFile(files.Next())
	nextExists := !errors.Is(nextErr, fs.ErrNotExist)

	if nextCheck != nil {
		want := seal.KeyID(nextCheck)
		if !nextExists {
			return false, fmt.Errorf("a master-key rotation is in progress and the database %s also needs the next key (id %s), but %s is missing: restore %s from your backup together with %s; without it the records already re-sealed cannot be opened",
				st.Path(), want, files.Next(), files.Next(), files.Path)
		}
		if nextErr != nil {
			return false, nextErr
		}
		if next.VerifyCheck(nextCheck) != nil {
			return false, fmt.Errorf("a master-key rotation is in progress to key %s, but %s holds key %s: restore the %s that belongs to this data dir",
				want, files.Next(), next.ID(), files.Next())
		}
		ring.Add(next)
		if err := ring.SetPrimary(next.ID()); err != nil {
			return false, err
		}
		log.Info("resuming a master-key rotation cut off by a restart", slog.String("fromKeyId", seal.KeyID(check)), slog.String("toKeyId", next.ID()))
		return true, nil
	}
	if !nextExists || check == nil {
		return false, nil
	}
	if nextErr != nil {
		// Nothing names the next key; an unreadable file there is no
		// reason to refuse to start, but it is worth saying.
		log.Warn("ignoring a master key file that no rotation in progress needs", slog.String("path", files.Next()), slog.String("error", nextErr.Error()))
		return false, nil
	}
	current := ring.ID()
	switch {
	case next.VerifyCheck(check) == nil && seal.KeyID(check) != current:
		retired, err := files.promote()
		if err != nil {
			return false, fmt.Errorf("finishing a master-key rotation: %w", err)
		}
		ring.Add(next)
		if err := ring.SetPrimary(next.ID()); err != nil {
			return false, err
		}
		log.Info("finished a master-key rotation cut off by a restart: the next key is now the master key",
			slog.String("keyId", next.ID()), slog.String("retiredKeyFile", files.Retired(retired)))
	case ring.VerifyCheck(check) == nil:
		if err := os.Remove(files.Next()); err != nil {
			return false, err
		}
		log.Info("removed the key file of a master-key rotation that had not started when it was cut off; nothing was sealed with it",
			slog.String("path", files.Next()))
	}
	return false, nil
}

// WrongKey is the start-up error for a master key file that does not open
// the store: the file at keyFile holds key id have, and the store's check
// value names need ("" for a check value from before key ids). When a
// rotation kept the needed key as a retired file, the error points at it.
func WrongKey(keyFile, have, need, dataDir string) error {
	msg := fmt.Sprintf("master key %s does not open this database", keyFile)
	if need == "" {
		msg += " (it was sealed with another key)"
	} else {
		msg += fmt.Sprintf(": the file holds key id %s, and the database needs key id %s", have, need)
		if retired := (Files{Path: keyFile}).Retired(need); fileExists(retired) {
			return fmt.Errorf("%s, which a master-key rotation kept as %s: restore the master key file that belongs to this database by copying %s to %s (keep the current %s aside: data written after that rotation needs it)",
				msg, retired, retired, keyFile, keyFile)
		}
	}
	return fmt.Errorf("%s: restore the master key file that belongs to this data dir (%s); a master-key rotation keeps retired keys beside it as %s",
		msg, dataDir, (Files{Path: keyFile}).Retired("ID"))
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

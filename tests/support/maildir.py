"""A deterministic maildir corpus for the backup tests and benchmarks.

The tree is what the container's Dovecot keeps under data_path/mail: one directory per
mailbox, <domain>/<user>/, in Maildir++ form (cur/ new/ tmp/, sub-folders as .Name/, a
dovecot-uidlist), with file names as Dovecot writes them
('<time>.M<usec>P<pid>.<host>,S=<size>,W=<vsize>:2,<flags>') and mtimes set to the time of delivery.

What makes it look like real mail to a backup tool:
- sizes follow a log-normal law (median about 5 KB), so most files are small and a few large;
- about one message in eight carries a base64 attachment of random bytes, which no compressor
  shrinks (as with real photos and PDFs); the rest is compressible text;
- some attachments are sent to several mailboxes (identical bytes in different files);
- a few mailboxes get most of the mail, and read/unread/flagged states are mixed.

The same (messages, users, seed) always gives the same bytes, names and mtimes.

    python -m tests.support.maildir OUT --messages 20000 --users 20 --seed 1   # a new tree
    python -m tests.support.maildir OUT --mutate 1 --seed 2                     # change it a little

--mutate adds PCT % new messages, changes the flags of 5 % (a rename, as an IMAP client
causes) and deletes 0.5 %. Both print one JSON line with what they did.
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

DOMAINS = ("example.com", "example.net")
FOLDERS = ("", ".Sent", ".Drafts", ".Archive", ".Junk", ".Lists")
FOLDER_WEIGHTS = (60, 12, 2, 14, 6, 6)
_WORDS = (
    "about account agenda alert almost attached backup before bridge budget calendar certificate change "
    "check container could dinner domain draft family field follow friday garden holiday invoice later "
    "letter login meeting mesh message minutes monday network notes order package password please project "
    "quarter question receipt regards renewal report review router schedule security server shipping "
    "signed storage summary thanks ticket today tomorrow travel update upgrade verify weekend would"
)
VOCABULARY = tuple(_WORDS.split())
FLAG_SETS = ("S", "S", "S", "S", "RS", "FS", "S", "")  # "" = unread, in new/
FIRST_DELIVERY = 1_790_000_000  # a fixed clock, so mtimes are the same on every run
MAX_SHARED = 40


class _Writer:
    """Builds and stores messages from one random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.shared: list[bytes] = []

    def prose(self, size: int) -> str:
        lines, total = [], 0
        while total < size:
            words = [self.rng.choice(VOCABULARY) for _ in range(self.rng.randint(5, 15))]
            line = " ".join(words).capitalize() + "."
            lines.append(line)
            total += len(line) + 2
        return "\r\n".join(lines)

    def attachment(self) -> bytes:
        if self.shared and self.rng.random() < 0.3:
            return self.rng.choice(self.shared)
        blob = self.rng.randbytes(int(min(self.rng.lognormvariate(11.3, 1.1), 2_500_000)))
        if len(self.shared) < MAX_SHARED:
            self.shared.append(blob)
        return blob

    def message(self, number: int, mailbox: str, when: int) -> bytes:
        rng = self.rng
        sender = f"contact{number % 89}@example.org"
        head = [
            f"Return-Path: <{sender}>",
            f"Delivered-To: {mailbox}",
            f"Received: from mx.example.org by mail.{mailbox.split('@')[1]} with ESMTPS id {rng.getrandbits(40):010X}",
            f"Message-ID: <{rng.getrandbits(72):018x}@example.org>",
            f"Date: {_rfc2822(when)}",
            f"From: Contact {number % 89} <{sender}>",
            f"To: {mailbox}",
            f"Subject: {self.prose(20)[:55]}",
            "MIME-Version: 1.0",
        ]
        body_size = int(min(max(rng.lognormvariate(8.5, 1.0), 250), 350_000))
        if rng.random() < 0.125:
            encoded = base64.encodebytes(self.attachment()).decode().replace("\n", "\r\n")
            head.append('Content-Type: multipart/mixed; boundary="part"')
            body = (
                f"--part\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{self.prose(min(body_size, 3000))}\r\n"
                "--part\r\nContent-Type: application/octet-stream; name=\"file.bin\"\r\n"
                f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}--part--\r\n"
            )
        else:
            head.append("Content-Type: text/plain; charset=utf-8")
            body = self.prose(body_size) + "\r\n"
        return ("\r\n".join(head) + "\r\n\r\n" + body).encode()

    def store(self, folder: Path, data: bytes, when: int) -> int:
        flags = self.rng.choice(FLAG_SETS)
        name = f"{when}.M{self.rng.randrange(1_000_000)}P{self.rng.randrange(100, 65_536)}.mail"
        vsize = len(data) + data.count(b"\n")  # the size with LF line ends, as IMAP counts it
        name += f",S={len(data)},W={vsize}"
        path = folder / ("cur" if flags else "new") / (name + (":2," + flags if flags else ""))
        path.write_bytes(data)
        os.utime(path, (when, when))
        return len(data)


def _rfc2822(when: int) -> str:
    return email.utils.formatdate(when).replace("-0000", "+0000")


def _mailboxes(users: int) -> list[tuple[str, str]]:
    return [(DOMAINS[n % len(DOMAINS)], f"user{n:03d}") for n in range(users)]


def _messages(root: Path) -> list[Path]:
    found = []
    for dirpath, _dirs, files in os.walk(root / "mail"):
        if os.path.basename(dirpath) in ("cur", "new"):
            found.extend(Path(dirpath, name) for name in files)
    return sorted(found)


def _write_uidlists(root: Path, boxes: list[tuple[str, str]], seed: int, when: int) -> None:
    """dovecot-uidlist per folder, as Dovecot keeps it (version 3 header, one line per message)."""
    for domain, user in boxes:
        for folder in FOLDERS:
            where = root / "mail" / domain / user / folder
            names = sorted(p.name.split(":")[0] for sub in ("cur", "new") for p in (where / sub).iterdir())
            lines = [f"3 V{1_700_000_000 + seed} N{len(names) + 1} G{seed:032x}"]
            lines += [f"{uid} :{name}" for uid, name in enumerate(names, 1)]
            (where / "dovecot-uidlist").write_text("\n".join(lines) + "\n")
            os.utime(where / "dovecot-uidlist", (when, when))


def create(out: str | os.PathLike, *, messages: int, users: int = 20, seed: int = 1) -> dict:
    """Write a new corpus of `messages` messages into out/mail; refuses if out/mail exists."""
    root = Path(out)
    if (root / "mail").exists():
        raise FileExistsError(f"{root / 'mail'} exists (use mutate to change it)")
    rng = random.Random(seed)
    writer = _Writer(rng)
    boxes = _mailboxes(users)
    for domain, user in boxes:
        for folder in FOLDERS:
            for sub in ("cur", "new", "tmp"):
                (root / "mail" / domain / user / folder / sub).mkdir(parents=True, exist_ok=True)
    # a Zipf-like spread: the first mailboxes get most of the mail
    weights = [1 / (rank + 1) for rank in range(users)]
    total = 0
    for number in range(messages):
        domain, user = rng.choices(boxes, weights)[0]
        folder = rng.choices(FOLDERS, FOLDER_WEIGHTS)[0]
        when = FIRST_DELIVERY + number * 47
        data = writer.message(number, f"{user}@{domain}", when)
        total += writer.store(root / "mail" / domain / user / folder, data, when)
    _write_uidlists(root, boxes, seed, FIRST_DELIVERY + messages * 47)
    return {"messages": messages, "bytes": total}


def mutate(out: str | os.PathLike, *, percent: int = 1, seed: int = 2) -> dict:
    """New mail, some flags changed, a few messages deleted: what a day changes in a maildir."""
    root = Path(out)
    rng = random.Random(seed)
    writer = _Writer(rng)
    present = _messages(root)
    if not present:
        raise FileNotFoundError(f"no messages under {root / 'mail'}")
    renames, deletes = len(present) * 5 // 100, len(present) // 200
    chosen = rng.sample(present, renames + deletes)
    for path in chosen[:renames]:
        base, _, flags = path.name.partition(":2,")
        # read if it was unread, else (un)flagged: the name always changes, as a client's STORE does
        flags = set(flags) ^ ({"F"} if "S" in flags else {"S"})
        path.rename(path.parent.parent / "cur" / f"{base}:2,{''.join(sorted(flags))}")
    for path in chosen[renames:]:
        path.unlink()
    folders = sorted({p.parent.parent for p in present})
    added = max(1, len(present) * percent // 100)
    total = 0
    for number in range(added):
        folder = rng.choice(folders)
        domain, user = folder.relative_to(root / "mail").parts[:2]
        when = FIRST_DELIVERY + 100_000_000 + number * 31
        total += writer.store(folder, writer.message(number, f"{user}@{domain}", when), when)
    return {"new_messages": added, "new_bytes": total, "renamed": renames, "deleted": deletes}


def cache_dir() -> Path:
    """Where built corpora are kept between test runs (outside the checkout, writable by this user)."""
    fallback = os.path.join(tempfile.gettempdir(), f"secumail-test-{os.getuid()}")
    for base in (os.environ.get("SECUMAIL_TEST_CACHE"), "/var/cache/secumail-test", fallback):
        if not base:
            continue
        path = Path(base) / "maildirs"
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK | os.X_OK):
            return path
    raise OSError("no writable directory for the maildir cache")


def copy_corpus(out: str | os.PathLike, *, messages: int, users: int = 3, seed: int = 1) -> None:
    """Put a corpus into out (merged with what is there), built once and then taken from the cache."""
    # the generator's own hash in the name: a changed generator never reuses an old tree
    version = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    cached = cache_dir() / f"{version}-m{messages}-u{users}-s{seed}"
    if not cached.is_dir():
        cached.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=cached.name + ".", dir=cached.parent))
        try:
            create(building, messages=messages, users=users, seed=seed)
            building.rename(cached)
        except OSError:
            shutil.rmtree(building, ignore_errors=True)
            if not cached.is_dir():  # another run may have built it at the same time
                raise
    shutil.copytree(cached, out, symlinks=True, dirs_exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.maildir",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", help="directory that gets (or has) mail/")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same tree")
    parser.add_argument("--mutate", type=int, metavar="PCT", help="change an existing tree instead of making one")
    args = parser.parse_args(argv)
    try:
        if args.mutate is not None:
            summary = mutate(args.out, percent=args.mutate, seed=args.seed)
        else:
            summary = create(args.out, messages=args.messages, users=args.users, seed=args.seed)
    except OSError as exc:
        print(f"maildir: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

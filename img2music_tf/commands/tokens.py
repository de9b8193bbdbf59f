"""`img2music tokens`: the MIDI token language on the command line (report, encode, decode)."""

from __future__ import annotations

from pathlib import Path

from img2music_tf.commands import check_counts
from img2music_tf.errors import UserError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "tokens",
        help="tokenise MIDI the authors' way: corpus report, encode one file, decode tokens to MIDI",
        description="The authors' MIDI token language (notes E-5@1/3, chords 0.4.7@0.25, rests r@1.5, "
                    "<bpm>@tempo, <ratio>@time, <start> ... <end>).",
    )
    commands = parser.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")

    report = commands.add_parser(
        "report", help="tokenise a folder or zip of .mid files and print counts, failures, vocabulary",
        description="Tokenise every .mid file of PATH (cached, parallel) and print a report with the "
                    "authors' figures beside ours, e.g. `img2music tokens report ../shared/data/eimg/dataset.zip`.",
    )
    report.add_argument("path", type=Path, help="folder or zip of .mid/.midi files")
    report.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    report.add_argument("--sequences", type=Path, metavar="FILE",
                        help="also write 'name tokens...' lines (the authors' midiData.txt layout)")
    report.add_argument("--workers", type=int, default=2, help="processes (default: 2)")
    report.add_argument("--no-cache", action="store_true", help="ignore cached tokens (they are still refreshed)")
    report.set_defaults(run=run_report)

    encode = commands.add_parser("encode", help="print the tokens of one MIDI file",
                                 description="Print the tokens of FILE, space-separated, on one line.")
    encode.add_argument("file", type=Path, help="a .mid file")
    encode.set_defaults(run=run_encode)

    decode = commands.add_parser(
        "decode", help="write a MIDI file from a file of tokens",
        description="Read whitespace-separated tokens from TOKENS_FILE (a leading name such as '0003' "
                    "is ignored) and write a piano MIDI file. A file with a malformed token (each is VALUE@LENGTH "
                   "with a length of 0 to 1024 beats (tokens.MAX_TOKEN_BEATS), <start> or <end>) or more than "
                   "10000 tokens (tokens.MAX_DECODE_TOKENS) is refused.",
    )
    decode.add_argument("tokens_file", type=Path, help="text file of tokens")
    decode.add_argument("--out", type=Path, required=True, help="MIDI file to write")
    decode.set_defaults(run=run_decode)


def run_report(args) -> int:
    # the method is imported here, not at the top: --help loads the command layer and the configs only
    # (tests/test_cli.py)
    from img2music_tf.corpus import corpus_report, format_report, tokenize_source, write_sequences
    from img2music_tf.files import write_json

    check_counts(workers=args.workers)
    results = tokenize_source(args.path, workers=args.workers, use_cache=not args.no_cache)
    report = corpus_report(results)
    print(format_report(report))
    if args.json:
        write_json(args.json, {"source": str(args.path), **report})
        print(f"report written to {args.json}")
    if args.sequences:
        write_sequences(results, args.sequences)
        print(f"sequences written to {args.sequences}")
    return 0


def run_encode(args) -> int:
    # the method is imported here, not at the top: --help loads the command layer and the configs only
    # (tests/test_cli.py)
    from img2music_tf.tokenizer import encode_midi

    print(" ".join(encode_midi(args.file)))
    return 0


def run_decode(args) -> int:
    # the method is imported here, not at the top: --help loads the command layer and the configs only
    # (tests/test_cli.py)
    from img2music_tf.files import check_input_file
    from img2music_tf.tokens import MAX_DECODE_TOKENS, START, parse_tokens, write_midi

    try:
        data = check_input_file(args.tokens_file, "tokens").read_bytes()
    except OSError as error:
        raise UserError(f"cannot read {args.tokens_file}: {error.strerror or error}") from None
    if b"\0" in data:
        raise UserError(f"{args.tokens_file} is a binary file, not a text file of tokens")
    try:
        tokens = data.decode("utf-8").split()
    except UnicodeDecodeError as error:
        raise UserError(f"{args.tokens_file} is not UTF-8 text (byte {error.start}): not a file of tokens") from None
    if tokens and START in tokens:
        tokens = tokens[tokens.index(START):]
    if not tokens:
        raise UserError(f"{args.tokens_file} holds no tokens")
    if len(tokens) > MAX_DECODE_TOKENS:
        raise UserError(f"{args.tokens_file} holds {len(tokens)} tokens; at most {MAX_DECODE_TOKENS} are decoded "
                        "(music21's MIDI writer slows with the square of the length)")
    parse_tokens(tokens, strict=True)
    write_midi(tokens, args.out)
    print(f"wrote {args.out}")
    return 0

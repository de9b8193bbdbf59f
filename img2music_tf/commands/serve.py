"""`img2music serve [--run DIR] [--host 127.0.0.1] [--port 8000]`: a page on this machine that makes music."""

from __future__ import annotations

from img2music_tf.serve.config import MB, ServeConfig


def add_parser(subparsers) -> None:
    defaults = ServeConfig()
    parser = subparsers.add_parser(
        "serve",
        help="a page on this machine: drop pictures, hear their music",
        description=(
            "Serve a page (and a JSON API, see the README) that makes music from pictures with a trained run, or "
            "without --run with the model shipped in the package, loaded once. Pick or drop pictures; each is "
            "made in turn, as `img2music generate PICTURE` makes it, and shown with its piano roll, WAV, MIDI "
            "and VA. It needs no internet. It listens on 127.0.0.1 (this machine only) unless --host says "
            "otherwise; the pieces' files are removed after --keep-minutes and when the server stops."
        ),
    )
    parser.add_argument("--run", metavar="RUN_DIR", dest="run_dir",
                        help="trained run folder; without it, the model shipped in the package")
    parser.add_argument("--host", default=defaults.host,
                        help=f"address to listen on (default: {defaults.host}; 0.0.0.0 lets other machines in)")
    parser.add_argument("--port", type=int, default=defaults.port, help=f"port (default: {defaults.port})")
    parser.add_argument("--va-predictor", metavar="DIR", default=None,
                        help="music VA predictor folder (default: the one the run names, if any)")
    parser.add_argument("--max-upload-mb", type=float, default=defaults.max_upload_bytes / MB,
                        help=f"largest picture accepted, in MB (default: {defaults.max_upload_bytes // MB})")
    parser.add_argument("--keep-minutes", type=float, default=defaults.file_lifetime_s / 60,
                        help=f"how long a piece's files are kept (default: {defaults.file_lifetime_s / 60:g})")
    parser.add_argument("--max-queue", type=int, default=defaults.max_queue,
                        help=f"pictures that may wait at once; more are refused with a message "
                             f"(default: {defaults.max_queue})")
    parser.add_argument("--no-wav", action="store_true", help="skip the WAV rendering (no FluidSynth needed)")
    parser.set_defaults(run=run)


def run(args) -> int:
    import uvicorn

    from img2music_tf.commands import check_counts
    from img2music_tf.errors import UserError
    from img2music_tf.serve.app import create_app
    from img2music_tf.serve.jobs import Studio, load_model

    check_counts(max_queue=args.max_queue)
    if args.max_upload_mb <= 0 or args.keep_minutes <= 0 or not 0 <= args.port <= 65535:
        raise UserError("--max-upload-mb and --keep-minutes must be above 0, --port in 0-65535")
    config = ServeConfig(args.run_dir, args.va_predictor, args.host, args.port, int(args.max_upload_mb * MB),
                         args.keep_minutes * 60, args.max_queue, not args.no_wav)
    model = load_model(config)
    studio = Studio(model, config)
    print(f"img2music: serving {model.describe()['model']} on http://{args.host}:{args.port}/ (Ctrl-C stops it)")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: listening on {args.host}: other machines can reach this page")
    try:
        uvicorn.run(create_app(studio), host=args.host, port=args.port, log_level="warning")
    finally:
        studio.close()
    return 0

import sys

from img2music_tf.cli import main

sys.exit(main())

from plexsync.cli import main

main()

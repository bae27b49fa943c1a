from rotation_notes.cli import main

raise SystemExit(main())

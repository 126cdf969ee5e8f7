from lorawatch.app.cli.main import main

main()

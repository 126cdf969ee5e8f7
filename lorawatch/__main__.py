from lorawatch.cli import main

main()

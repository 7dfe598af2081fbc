from tunewise.cli import main

main()

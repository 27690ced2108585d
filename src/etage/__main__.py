from etage.cli import main

main()

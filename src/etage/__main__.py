from etage.entry import main

main()

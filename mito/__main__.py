from mito.main import main

main()

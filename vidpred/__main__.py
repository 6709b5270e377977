from vidpred.cli import main

main()

# Shared helpers of the rules: target lists derived from the typed config CFG (see Snakefile).
# Each stage's rules live in their own workflow/rules/<stage>.smk, included from the Snakefile.

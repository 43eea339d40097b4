#!/usr/bin/env bash
# End-to-end test of the `nn` command-line tool (CTest: cli_e2e).
#
#   bash tests/cli_e2e.sh NN_EXE DIGITS_CSV WORK_DIR
#
# Trains on the UCI digits from CSV (with a validation split and early
# stopping), predicts (CSV and .npy), evaluates (accuracy threshold and the
# exit code when it is missed), inspects, converts (safetensors f64, .npy <->
# CSV, ONNX both ways), and checks `--help` of every verb, the
# exit codes it documents, and errors that name file, line and column.
set -uo pipefail
NN="$1"; DIGITS="$2"; W="$3"
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# expect RC DESCRIPTION -- command...: runs it, output in out.txt (stdout) / err.txt (stderr)
expect() {
  local want="$1" what="$2"; shift 3
  "$@" >out.txt 2>err.txt; local rc=$?
  if [[ $rc -eq $want ]]; then ok; else bad "$what: exit $rc, expected $want"; sed 's/^/  | /' err.txt | head -5; fi
}
has() {  # has FILE TEXT DESCRIPTION
  if grep -qF -- "$2" "$1"; then ok; else bad "$3: '$2' not in $1"; sed 's/^/  | /' "$1" | head -8; fi
}

# --- help -----------------------------------------------------------------------
expect 0 "nn --help" -- "$NN" --help
for v in train predict eval inspect convert; do has out.txt "  $v " "nn --help lists $v"; done
has out.txt "exit codes:" "nn --help documents exit codes"
has out.txt "130  nn train: interrupted" "nn --help documents exit 130"
for v in train predict eval inspect convert; do
  expect 0 "nn $v --help" -- "$NN" "$v" --help
  has out.txt "usage: nn $v" "nn $v --help usage line"
  has out.txt "exit codes:" "nn $v --help exit codes"
done
expect 0 "nn train -h" -- "$NN" train -h
for o in --layers --activation --loss --optimizer --lr --momentum --step-size --gamma --batch --epochs \
         --seed --val-split --patience; do
  has out.txt "$o " "nn train --help documents $o"
done
expect 0 "nn --version" -- "$NN" --version
has out.txt "nn (libnn) " "version line"

# --- usage errors (exit 2) -------------------------------------------------------
expect 2 "no command" -- "$NN"
expect 2 "unknown command" -- "$NN" frobnicate
has err.txt "unknown command 'frobnicate'" "unknown command message"
expect 2 "unknown option" -- "$NN" train --bogus "$DIGITS"
has err.txt "unknown option --bogus" "unknown option message"
expect 2 "bad number" -- "$NN" train --lr abc "$DIGITS"
has err.txt "--lr: 'abc' is not a finite number" "bad number message"
expect 2 "bad choice" -- "$NN" train --activation swish "$DIGITS"
has err.txt "--activation: 'swish' is not one of" "bad choice message"
expect 2 "missing argument" -- "$NN" predict model.safetensors
expect 2 "patience without validation" -- "$NN" train --patience 2 "$DIGITS"

# --- train (piped: plain progress lines) ------------------------------------------
expect 0 "nn train digits" -- "$NN" train "$DIGITS" --layers 64 --activation relu --optimizer adam --lr 0.002 \
  --batch 32 --epochs 30 --seed 7 --val-split 0.2 --patience 3 --step-size 10 --gamma 0.5 -o digits.safetensors
has err.txt "1797 rows (1438 for training, 359 for validation), 64 features, 10 classes" "train summary line"
has err.txt "epoch 1/30  loss " "plain per-epoch progress line"
has err.txt "rows/s" "throughput in the progress line"
has err.txt "saved digits.safetensors" "train final line"
if grep -q $'\r' err.txt; then bad "piped progress has carriage returns"; else ok; fi
[[ -s digits.safetensors ]] && ok || bad "model file missing"
expect 0 "nn train --progress live" -- "$NN" train "$DIGITS" --epochs 2 --progress live -o live.safetensors
if grep -q $'\r\033\[K' err.txt; then ok; else bad "live progress does not redraw its line"; fi
has err.txt "batches  loss " "live line shows batches and loss"
has err.txt "ETA " "live line shows the ETA"
if command -v script >/dev/null 2>&1; then  # a real terminal: auto picks the live line
  script -qec "'$NN' train '$DIGITS' --epochs 2 -o tty.safetensors" /dev/null >tty.txt 2>&1
  if grep -q "ETA " tty.txt; then ok; else bad "on a terminal the progress is not the live line"; fi
fi
# Ctrl-C: stops after the current batch/epoch, saves, exits 130
timeout --preserve-status -s INT 2 "$NN" train "$DIGITS" --epochs 1000000 -o int.safetensors >out.txt 2>err.txt
rc=$?
[[ $rc -eq 130 ]] && ok || bad "SIGINT during training: exit $rc, expected 130"
has err.txt "nn train: interrupted after" "interrupted message"
[[ -s int.safetensors ]] && ok || bad "the interrupted model was not saved"
expect 0 "nn train sgd f64 --quiet" -- "$NN" train "$DIGITS" --layers 32,16 --activation tanh --optimizer sgd \
  --lr 0.05 --momentum 0.9 --nesterov --batch 64 --epochs 3 --dtype f64 --quiet -o sgd.safetensors
[[ ! -s err.txt ]] && ok || bad "--quiet printed something"

# --- eval ----------------------------------------------------------------------------
expect 0 "nn eval" -- "$NN" eval digits.safetensors "$DIGITS" --confusion --min-accuracy 0.93
has out.txt "rows      1797" "eval rows"
has out.txt "accuracy  0.9" "eval accuracy >= 0.9"
has out.txt "confusion (rows: true class" "confusion matrix header"
[[ $(grep -cE '^ +[0-9]+( +[0-9]+){9}$' out.txt) -eq 10 ]] && ok || bad "confusion matrix is not 10 rows of 10"
expect 4 "nn eval below --min-accuracy" -- "$NN" eval digits.safetensors "$DIGITS" --min-accuracy 1.01
has err.txt "is below --min-accuracy 1.01" "threshold message"

# --- predict -------------------------------------------------------------------------
expect 0 "nn predict ids to CSV" -- "$NN" predict digits.safetensors "$DIGITS" --targets 1 --ids -o pred.csv
[[ $(wc -l <pred.csv) -eq 1797 ]] && ok || bad "pred.csv does not have 1797 lines"
right=$(paste -d, pred.csv <(awk -F, '{print $NF}' "$DIGITS") | awk -F, '$1==$2' | wc -l)
(( right >= 1671 )) && ok || bad "predicted ids right on $right of 1797 rows (< 93%)"
expect 0 "nn predict scores to stdout" -- "$NN" predict digits.safetensors "$DIGITS" --targets 1
[[ $(head -1 out.txt | tr ',' '\n' | wc -l) -eq 10 ]] && ok || bad "a stdout row does not have 10 scores"
expect 0 "nn predict to .npy" -- "$NN" predict digits.safetensors "$DIGITS" --targets 1 -o pred.npy
expect 1 "nn predict with the label column" -- "$NN" predict digits.safetensors "$DIGITS"
has err.txt "65 feature columns but digits.safetensors takes 64" "feature count message"

# --- inspect -------------------------------------------------------------------------
expect 0 "nn inspect model" -- "$NN" inspect digits.safetensors
has out.txt "inputs    64" "inspect inputs"
has out.txt "outputs   10" "inspect outputs"
has out.txt "Linear(64, 64)" "inspect summary"
has out.txt "params    4810" "inspect params"
expect 0 "nn inspect npy" -- "$NN" inspect pred.npy
has out.txt "shape     [1797, 10]" "inspect npy shape"
expect 0 "nn inspect csv" -- "$NN" inspect "$DIGITS"
has out.txt "shape     [1797, 65]" "inspect csv shape"

# --- convert -------------------------------------------------------------------------
expect 0 "nn convert to f64" -- "$NN" convert digits.safetensors d64.safetensors --dtype f64
expect 0 "nn inspect f64" -- "$NN" inspect d64.safetensors
has out.txt "dtype     f64" "converted dtype"
expect 0 "nn eval f64" -- "$NN" eval d64.safetensors "$DIGITS"
has out.txt "accuracy  0.9" "f64 model still accurate"
expect 0 "nn convert npy -> csv" -- "$NN" convert pred.npy pred_scores.csv
expect 0 "nn convert csv -> npy" -- "$NN" convert "$DIGITS" digits.npy --dtype i64
expect 0 "nn inspect converted npy" -- "$NN" inspect digits.npy
has out.txt "dtype     i64" "csv -> npy dtype"
expect 0 "nn eval from npy" -- "$NN" eval digits.safetensors digits.npy --min-accuracy 0.93
expect 0 "nn train from npy" -- "$NN" train digits.npy --epochs 3 --quiet -o from_npy.safetensors
awk -F, -v OFS=, '{ $NF = ""; sub(/,$/, ""); print }' "$DIGITS" >features.csv
awk -F, '{ print $NF }' "$DIGITS" >labels.csv
expect 0 "nn train --labels" -- "$NN" train features.csv --labels labels.csv --epochs 20 --lr 0.005 -o labels.safetensors
expect 0 "nn eval of the --labels model" -- "$NN" eval labels.safetensors "$DIGITS" --min-accuracy 0.9
expect 0 "nn convert to ONNX" -- "$NN" convert digits.safetensors model.onnx
expect 0 "nn convert ONNX back to safetensors" -- "$NN" convert model.onnx from_onnx.safetensors
expect 0 "nn eval of the model that went through ONNX" -- "$NN" eval from_onnx.safetensors "$DIGITS" --min-accuracy 0.93
expect 2 "nn convert ONNX that is not ONNX" -- "$NN" convert labels.csv bad.onnx
printf 'not a model' >junk.onnx
expect 1 "nn convert a broken ONNX file" -- "$NN" convert junk.onnx x.safetensors
has err.txt "junk.onnx" "the broken ONNX file is named"
expect 0 "nn convert to C source" -- "$NN" convert digits.safetensors digits-model.c
has digits-model.c "digits_model_predict" "C source names its function after the file"
if command -v cc >/dev/null 2>&1; then
  cc -std=c99 -Wall -Wextra -pedantic -Werror -c digits-model.c -o digits-model.o && ok || bad "the C source does not compile"
fi
expect 2 "nn convert C source -> model" -- "$NN" convert digits-model.c x.safetensors
has err.txt "reading C source (.c) is not supported" "C source is write-only"
expect 2 "nn convert model -> data" -- "$NN" convert digits.safetensors x.csv

# --- data errors name file, line and column (exit 1) ---------------------------------
printf 'a,b,label\n1,2,0\n3,x7,1\n' >bad.csv
expect 1 "CSV parse error" -- "$NN" train bad.csv --header
has err.txt "bad.csv: line 3, column 2: \"x7\" is not a number" "CSV error names line and column"
printf '1,2,0\n\n3,4,1.5\n' >badlabel.csv
expect 1 "bad class id" -- "$NN" train badlabel.csv
has err.txt "badlabel.csv: line 3, column 3: the label 1.5 is not a class id" "label error names line and column"
expect 1 "missing file" -- "$NN" eval digits.safetensors nosuch.csv
has err.txt "nosuch.csv" "missing file named"
printf 'not a model' >junk.safetensors
expect 1 "bad model file" -- "$NN" inspect junk.safetensors
has err.txt "junk.safetensors" "bad model named"

# --- regression ----------------------------------------------------------------------
awk 'BEGIN { srand(3); print "x1,x2,y"; for (i = 0; i < 200; i++) { a = rand(); b = rand(); printf "%.6f,%.6f,%.6f\n", a, b, 3*a - 2*b + 0.5 } }' >reg.csv
expect 0 "nn train regress" -- "$NN" train reg.csv --header --task regress --layers 0 --optimizer sgd --lr 0.1 \
  --momentum 0.9 --batch 16 --epochs 60 -o reg.safetensors
expect 0 "nn eval regress" -- "$NN" eval reg.safetensors reg.csv --header --max-rmse 0.01
has out.txt "r2        " "regression r2 reported"

echo "cli_e2e: $pass passed, $fail failed"
[[ $fail -eq 0 ]]

;;; test-eglot.el --- batch driver for tests/editors/test_eglot.py  -*- lexical-binding: t -*-

;; Drives Debian's eglot (1.9) in `emacs --batch' the way a user would: visit a Python file,
;; connect m21-lsp, select whole lines, run `eglot-code-actions' with a kind (which picks the
;; only matching action and executes its command), type while the model works, save, then
;; explain (typing again) and hover.  Eglot does not resolve code actions and shows no
;; progress, so this is the plain-client command path.  Eglot's own defaults are kept: its
;; executeCommand is a synchronous request with `jsonrpc-default-request-timeout' (10 s), so
;; a model slower than that works only because the server answers at once.
;;
;; It only records what happened, as JSON in $M21_RESULT; the Python test decides.
;;
;; Inputs (environment): M21_FILE, M21_SERVER_CMD (JSON list), M21_SNIPPET (optional: an
;; Elisp file configuring `eglot-server-programs', used instead of M21_SERVER_CMD), M21_RESULT, M21_RANGE
;; ("first,last", 1-based lines to refactor), M21_EXPLAIN_RANGE (lines to explain after the
;; refactor), M21_ONLY_REFACTOR (set: stop after the refactor), M21_WAIT_SECONDS (upper bound
;; of each wait), M21_TYPE_REFACTOR / M21_TYPE_EXPLAIN (optional, "LINE:TEXT": keys typed at
;; the end of LINE as soon as the action's command has returned, while the model works).
;;
;; Batch-mode facts this relies on: `eglot' takes the major mode as a list; server-initiated
;; edits must not ask (`eglot-confirm-server-initiated-edits' nil); idle timers never fire, so
;; pending changes are flushed with `eglot--signal-textDocument/didChange' before any direct
;; request, and after typing: that is what eglot's idle timer does half a second after the
;; last key in an interactive Emacs.

(require 'cl-lib)
(require 'json)
(require 'subr-x)
(require 'python)
(require 'eglot)

(defvar m21-wait (string-to-number (or (getenv "M21_WAIT_SECONDS") "30")))
(defvar m21-steps nil)
(defvar m21-shown nil "Every window/showMessage, oldest first: (TYPE . MESSAGE).")
(defvar m21-notified nil "Every notification method the server sent.")
(defvar m21-requested nil "Every request method the server sent.")
(defvar m21-results nil "Alist written as the JSON result.")

(defun m21-env (name)
  (or (getenv name) (error "Environment variable %s is not set" name)))

(defun m21-step (name)
  (push name m21-steps))

(defun m21-put (key value)
  (setf (alist-get key m21-results) value))

(defun m21-wait-until (what predicate)
  "Process server output until PREDICATE holds; fail after `m21-wait' seconds."
  (let ((deadline (+ (float-time) m21-wait)))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (error "Timed out after %ss waiting for %s" m21-wait what))
      (accept-process-output nil 0.05))))

(defun m21-lines (spec)
  (mapcar #'string-to-number (split-string spec ",")))

(defun m21-line-start (line)
  (save-excursion (goto-char (point-min)) (forward-line (1- line)) (point)))

(defun m21-select-lines (first last)
  "Select whole lines FIRST..LAST as `C-SPC' then moving down would: up to the next line's start."
  (transient-mark-mode 1)
  (goto-char (m21-line-start first))
  (push-mark (m21-line-start (1+ last)) t t)
  (exchange-point-and-mark)
  (exchange-point-and-mark)
  (list (region-beginning) (region-end)))

(cl-defmethod eglot-handle-notification :before
  (_server (_method (eql window/showMessage)) &key type message &allow-other-keys)
  (setq m21-shown (append m21-shown (list (cons type message)))))

(advice-add 'eglot-handle-notification :before
            (lambda (_server method &rest _) (push (format "%s" method) m21-notified)))
(advice-add 'eglot-handle-request :before
            (lambda (_server method &rest _) (push (format "%s" method) m21-requested)))

(defun m21-messages-since (n)
  (mapcar #'cdr (nthcdr n m21-shown)))

(defun m21-type-at-line-end (spec)
  "Type the keys of SPEC (\"LINE:TEXT\") at the end of LINE, as a user would."
  (let* ((colon (string-match ":" spec))
         (line (string-to-number (substring spec 0 colon)))
         (text (substring spec (1+ colon))))
    (deactivate-mark)
    (goto-char (m21-line-start line))
    (end-of-line)
    (execute-kbd-macro text)
    ;; What eglot's idle timer does after the last key (batch Emacs runs no idle timers).
    (eglot--signal-textDocument/didChange)))

(defun m21-run-action (kind first last &optional type)
  "Run the one code action of KIND on lines FIRST..LAST through eglot's own command path.
TYPE (\"LINE:TEXT\"), when given, is typed as soon as the command has returned."
  (let* ((region (m21-select-lines first last))
         (before (length m21-shown))
         (edits-before (cl-count "workspace/applyEdit" m21-requested :test #'equal))
         (key (intern (format "%s_typed_while_working" (replace-regexp-in-string "\\." "_" kind)))))
    ;; Interactive with a kind: eglot picks the single matching action without a menu and
    ;; runs its command with workspace/executeCommand, synchronously (eglot's default 10 s
    ;; timeout: an error here fails the scenario).
    (eglot-code-actions (car region) (cadr region) kind t)
    (m21-step (format "%s returned" kind))
    (when type
      ;; Typed while the model works: neither the outcome nor the edit has arrived yet.
      (m21-put key (and (< (length m21-shown) (+ before 2))
                        (= edits-before
                           (cl-count "workspace/applyEdit" m21-requested :test #'equal))
                        t))
      (m21-type-at-line-end type))
    ;; The start message came before the command's answer; the outcome comes when the
    ;; model is done.
    (m21-wait-until (format "two messages for %s" kind)
                    (lambda () (>= (length m21-shown) (+ before 2))))
    (m21-messages-since before)))

(defun m21-hover-at (line)
  (eglot--signal-textDocument/didChange)
  (goto-char (m21-line-start line))
  (forward-line 1)
  (back-to-indentation)
  (let ((hover (jsonrpc-request (eglot--current-server-or-lose) :textDocument/hover
                                (eglot--TextDocumentPositionParams))))
    (and hover
         (let ((contents (plist-get hover :contents)))
           (if (stringp contents) contents (plist-get contents :value))))))

(defun m21-main ()
  (setq eglot-confirm-server-initiated-edits nil)
  (let* ((file (m21-env "M21_FILE"))
         (cmd (append (json-read-from-string (m21-env "M21_SERVER_CMD")) nil))
         (buffer (find-file-noselect file)))
    ;; Shown in the selected window: keyboard macros type into the selected window's buffer.
    (switch-to-buffer buffer)
    (python-mode)
    (m21-main-in buffer file cmd)))

(defun m21-main-in (buffer file cmd)
  (with-current-buffer buffer
    (if (getenv "M21_SNIPPET")
        ;; As a user would: the documented snippet, then eglot's own guess from
        ;; `eglot-server-programs' (what M-x eglot does).
        (progn (load (getenv "M21_SNIPPET") nil t)
               (m21-put 'contact (format "%S" (nth 3 (eglot--guess-contact))))
               (apply #'eglot (eglot--guess-contact)))
      (eglot '(python-mode) (cons 'transient (file-name-directory file))
             'eglot-lsp-server cmd "python"))
    (m21-wait-until "eglot to manage the buffer"
                    (lambda () (with-current-buffer buffer
                                 (and (bound-and-true-p eglot--managed-mode)
                                      (eglot-current-server)))))
    (m21-step "connected")
    (let ((server (eglot-current-server)))
      (m21-put 'server_capabilities_execute
               (plist-get (eglot--capabilities server) :executeCommandProvider)))

    (pcase-let ((`(,first ,last) (m21-lines (m21-env "M21_RANGE"))))
      (m21-put 'refactor_messages
               (vconcat (m21-run-action "refactor.rewrite" first last
                                        (getenv "M21_TYPE_REFACTOR")))))
    (m21-put 'modified (and (buffer-modified-p) t))
    (save-buffer)
    (m21-step "saved")

    (unless (getenv "M21_ONLY_REFACTOR")
      (pcase-let ((`(,first ,last) (m21-lines (m21-env "M21_EXPLAIN_RANGE"))))
        (m21-put 'explain_messages
                 (vconcat (m21-run-action "refactor.explain" first last
                                          (getenv "M21_TYPE_EXPLAIN"))))
        (m21-put 'hover (m21-hover-at first)))
      (save-buffer)
      (m21-step "explained"))
    (ignore-errors (eglot-shutdown (eglot-current-server)))))

(defun m21-finish (ok err)
  (m21-put 'ok (if ok t :json-false))
  (m21-put 'error err)
  (m21-put 'steps (vconcat (reverse m21-steps)))
  (m21-put 'shown (vconcat (mapcar (lambda (m) `((type . ,(car m)) (message . ,(cdr m))))
                                   m21-shown)))
  (m21-put 'notified (vconcat (delete-dups (reverse m21-notified))))
  (m21-put 'requested (vconcat (delete-dups (reverse m21-requested))))
  (let ((coding-system-for-write 'utf-8))
    (with-temp-file (m21-env "M21_RESULT")
      (insert (json-encode m21-results))))
  (kill-emacs (if ok 0 1)))

(condition-case err
    (progn (m21-main) (m21-finish t nil))
  (error (m21-finish nil (error-message-string err))))

;;; test-eglot.el ends here

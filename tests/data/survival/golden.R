# Golden numbers for survfit's tests, from R's survival package (the oracle). Regenerate with
#   Rscript tests/data/survival/golden.R > tests/data/survival/golden.json
# (R 4.2.2, survival 3.5-3 from Debian: scripts/setup-deps.sh r). Data are read from the CSV files
# beside this script, so categorical levels are sorted alphabetically (read.csv's factors).
suppressMessages(library(survival))
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
veteran <- read.csv(file.path(here, "veteran.csv"), stringsAsFactors = TRUE)
lung <- read.csv(file.path(here, "lung.csv"), stringsAsFactors = TRUE)
heart <- read.csv(file.path(here, "heart.csv"), stringsAsFactors = TRUE)
num <- function(x) ifelse(is.finite(x), sprintf("%.15g", x), "null")
vec <- function(x) paste0("[", paste(num(x), collapse = ", "), "]")
named <- function(x) paste0("{", paste(sprintf("\"%s\": %s", names(x), num(x)), collapse = ", "), "}")
out <- c()
add <- function(s) out <<- c(out, s)

sr <- list()
for (d in c("veteran", "lung")) {
  forms <- if (d == "veteran") c("trt + karno", "karno + celltype", "age + prior + karno") else c("age + sex", "sex + ph.ecog")
  for (f in forms) for (dist in c("weibull", "exponential", "loglogistic", "lognormal")) {
    fit <- survreg(as.formula(paste("Surv(time, status) ~", f)), data = get(d), dist = dist)
    sr <- c(sr, sprintf("{\"data\": \"%s\", \"formula\": \"%s\", \"dist\": \"%s\", \"n\": %d, \"coef\": %s, \"se\": %s, \"scale\": %s, \"loglik\": %s}",
                        d, f, dist, nrow(fit$y), named(coef(fit)), named(sqrt(diag(vcov(fit)))[seq_along(coef(fit))]), num(fit$scale),
                        num(as.numeric(logLik(fit)))))
  }
}
add(paste0("\"survreg\": [\n  ", paste(sr, collapse = ",\n  "), "]"))

cx <- list()
for (case in list(list("veteran", "trt + karno"), list("veteran", "karno + celltype"), list("lung", "age + sex"))) {
  for (ties in c("efron", "breslow")) {
    fit <- coxph(as.formula(paste("Surv(time, status) ~", case[[2]])), data = get(case[[1]]), ties = ties)
    cx <- c(cx, sprintf("{\"data\": \"%s\", \"formula\": \"%s\", \"ties\": \"%s\", \"coef\": %s, \"se\": %s, \"loglik\": %s, \"concordance\": %s}",
                        case[[1]], case[[2]], ties, named(coef(fit)), named(sqrt(diag(vcov(fit)))), vec(fit$loglik),
                        num(fit$concordance[["concordance"]])))
  }
}
add(paste0("\"coxph\": [\n  ", paste(cx, collapse = ",\n  "), "]"))

# Strata and (start, stop] counting-process data. "formula" is survfit's spelling (R's is the same here);
# "entry" names the start column (null: right-censored data); "strata" the labels R gives the strata.
cs <- list()
for (case in list(list("heart", "start", "stop", "event", "age + surgery + transplant", NULL),
                  list("heart", "start", "stop", "event", "age + transplant + strata(surgery)", "surgery"),
                  list("veteran", NULL, "time", "status", "trt + karno + strata(celltype)", "celltype"),
                  list("lung", NULL, "time", "status", "age + ph.ecog + strata(sex)", "sex"),
                  list("lung", NULL, "time", "status", "age + strata(sex, ph.ecog)", c("sex", "ph.ecog")))) {
  d <- get(case[[1]])
  surv <- if (is.null(case[[2]])) sprintf("Surv(%s, %s)", case[[3]], case[[4]]) else sprintf("Surv(%s, %s, %s)", case[[2]], case[[3]], case[[4]])
  for (ties in c("efron", "breslow")) {
    fit <- coxph(as.formula(paste(surv, "~", case[[5]])), data = d, ties = ties)
    labels <- if (is.null(case[[6]])) "[]" else {
      keep <- complete.cases(d[, all.vars(as.formula(paste("~", case[[5]])))])
      paste0("[", paste(sprintf("\"%s\"", levels(droplevels(strata(d[keep, case[[6]], drop = FALSE])))), collapse = ", "), "]")
    }
    cs <- c(cs, sprintf("{\"data\": \"%s\", \"entry\": %s, \"time\": \"%s\", \"status\": \"%s\", \"formula\": \"%s\", \"ties\": \"%s\", \"n\": %d, \"strata\": %s, \"coef\": %s, \"se\": %s, \"loglik\": %s, \"concordance\": %s}",
                        case[[1]], if (is.null(case[[2]])) "null" else sprintf("\"%s\"", case[[2]]), case[[3]], case[[4]], case[[5]], ties,
                        fit$n, labels, named(coef(fit)), named(sqrt(diag(vcov(fit)))), vec(fit$loglik), num(fit$concordance[["concordance"]])))
  }
}
add(paste0("\"coxph_strata_counting\": [\n  ", paste(cs, collapse = ",\n  "), "]"))

km <- list()
for (d in c("veteran", "lung")) {
  fit <- survfit(Surv(time, status) ~ 1, data = get(d))
  s <- summary(fit)
  q <- quantile(fit, 0.5)
  km <- c(km, sprintf("{\"data\": \"%s\", \"time\": %s, \"surv\": %s, \"std_err\": %s, \"lower\": %s, \"upper\": %s, \"median\": %s, \"median_lower\": %s, \"median_upper\": %s}",
                      d, vec(s$time), vec(s$surv), vec(s$std.err), vec(s$lower), vec(s$upper), num(q$quantile), num(q$lower), num(q$upper)))
}
add(paste0("\"km\": [\n  ", paste(km, collapse = ",\n  "), "]"))
cat("{", paste(out, collapse = ",\n"), "}\n", sep = "")
